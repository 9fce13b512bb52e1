-- Find transitions whose events are still unlogged after a while (the node
-- that made them died between its two steps), after taking acknowledgements.
--
-- KEYS[1..5] and ARGV[1..7]: as every routing script (include/routing_change.lua)
-- KEYS[1] = agent profiles hash     <prefix>:{rt}:agents
-- KEYS[5] = unlogged index          <prefix>:{rt}:unlogged
-- ARGV[1] = queue key prefix        <prefix>:{rt}:queue:     (+ skill)
-- ARGV[4] = now: pending since at most this time are returned
-- ARGV[8] = number of acknowledgements k, then k pairs: conversation id, newest logged number
-- then: the most conversations to return
-- Returns {id, {pending records oldest first}} per conversation found.

local limit = tonumber(ARGV[acknowledge_all()])
local found = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', UNLOGGED, '-inf', NOW, 'LIMIT', 0, limit)) do
  local records = redis.call('ZRANGE', PENDING_PREFIX .. id, 0, -1)
  if #records == 0 then
    redis.call('ZREM', UNLOGGED, id)
  else
    found[#found + 1] = {id, records}
  end
end
return found
