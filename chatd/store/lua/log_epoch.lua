-- The epoch of one conversation's log (renewed first if Redis restarted since it was written).
--
-- KEYS[1] = state mirror hash  <prefix>:{c:<id>}:state
-- KEYS[2] = seq counter        <prefix>:{c:<id>}:seq
-- ARGV: none
-- Returns the epoch, or false for a conversation that has no log (never
-- written, or forgotten once archived): reading leaves no key behind.
if redis.call('EXISTS', KEYS[2]) == 0 then return false end
return log_epoch(KEYS[1])
