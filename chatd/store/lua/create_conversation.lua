-- Store a new conversation record and index it, unless the id exists.
--
-- KEYS[1] = conversation hash               <prefix>:{rt}:conv:<id>
-- KEYS[2] = the visitor's conversations     <prefix>:{rt}:vconv:<site>:<visitor>
-- KEYS[3] = state index of "open"           <prefix>:{rt}:state:open
-- ARGV[1] = conversation id
-- ARGV[2] = created_at (index score)
-- ARGV[3..] = field, value pairs of the record
-- Returns "ok", or "bad_state" when the id is taken (nothing changed).

if redis.call('EXISTS', KEYS[1]) == 1 then return 'bad_state' end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
return 'ok'
