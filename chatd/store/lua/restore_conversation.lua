-- Put back a forgotten conversation's record (closed, as archived), after
-- its log (restore_log.lua), unless the record is there already.
--
-- KEYS[1] = conversation hash        <prefix>:{rt}:conv:<id>
-- KEYS[2] = closed state index        <prefix>:{rt}:state:closed
-- KEYS[3] = the visitor's conversations  <prefix>:{rt}:vconv:<site>:<visitor>
-- KEYS[4] = archived marks zset       <prefix>:{rt}:archived
-- ARGV[1] = conversation id, ARGV[2] = created_at, ARGV[3] = closed_at
-- ARGV[4] = number of record fields f, then f field/value pairs
-- Returns 1 when restored, 0 when the record was there.

if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local record = {}
for i = 5, 4 + 2 * tonumber(ARGV[4]) do record[#record + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], 'tn', '0', unpack(record))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1])
return 1
