-- Forget a closed conversation's routing state once the archive has it
-- (chatd.archiving), unless it was reopened (or closed again) since.
--
-- KEYS[1] = conversation hash        <prefix>:{rt}:conv:<id>
-- KEYS[2] = closed state index        <prefix>:{rt}:state:closed
-- KEYS[3] = archived marks zset       <prefix>:{rt}:archived
-- KEYS[4] = routing records list      <prefix>:{rt}:routing:<id>
-- KEYS[5] = pending events zset       <prefix>:{rt}:pending:<id>
-- KEYS[6] = unlogged zset             <prefix>:{rt}:unlogged
-- KEYS[7] = forgetting zset           <prefix>:{rt}:forgetting
-- ARGV[1] = conversation id, ARGV[2] = closed_at as archived, ARGV[3] = now
-- ARGV[4] = visitor conversations prefix  <prefix>:{rt}:vconv:   (+ site:visitor)
-- ARGV[5] = visitor open prefix           <prefix>:{rt}:vopen:   (+ site:visitor)
-- Returns 1 when forgotten (the {c:<id>} keys are then the caller's to
-- delete; the id waits in the forgetting zset until they are), else 0.

local conv, id = KEYS[1], ARGV[1]
local state = redis.call('HGET', conv, 'state')
if not state then
  redis.call('ZREM', KEYS[3], id)
  return 0
end
if state ~= 'closed' or tonumber(redis.call('HGET', conv, 'closed_at')) ~= tonumber(ARGV[2]) then return 0 end
local visitor = redis.call('HGET', conv, 'site_key') .. ':' .. redis.call('HGET', conv, 'visitor_id')
redis.call('ZREM', ARGV[4] .. visitor, id)
if redis.call('GET', ARGV[5] .. visitor) == id then redis.call('DEL', ARGV[5] .. visitor) end
redis.call('DEL', conv, KEYS[4], KEYS[5])
redis.call('ZREM', KEYS[2], id)
redis.call('ZREM', KEYS[3], id)
redis.call('ZREM', KEYS[6], id)
redis.call('ZADD', KEYS[7], ARGV[3], id)
return 1
