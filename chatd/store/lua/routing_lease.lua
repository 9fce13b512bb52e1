-- Take, keep or give up the routing lease: one node's worker routes at a time.
--
-- KEYS[1] = the lease   <prefix>:{rt}:router_lease
-- ARGV[1] = node id
-- ARGV[2] = lease length in milliseconds, or 0 to give the lease up
-- Returns 1 when the node holds the lease afterwards, else 0.
local holder = redis.call('GET', KEYS[1])
if ARGV[2] == '0' then
  if holder == ARGV[1] then redis.call('DEL', KEYS[1]) end
  return 0
end
if not holder or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
