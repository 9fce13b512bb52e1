-- Move event retries that are due back into the outbox stream, atomically.
-- KEYS[1] = retries ZSET (msgpack event by due time), KEYS[2] = outbox STREAM
-- ARGV[1] = now, ARGV[2] = at most this many
-- Returns how many were moved.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, event in ipairs(due) do
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', '1000000', '*', 'e', event)
  redis.call('ZREM', KEYS[1], event)
end
return #due
