-- The epoch of one conversation's log (renewed first if Redis restarted since it was written).
--
-- KEYS[1] = state mirror hash  <prefix>:{c:<id>}:state
-- ARGV: none
-- Returns the epoch.
return log_epoch(KEYS[1])
