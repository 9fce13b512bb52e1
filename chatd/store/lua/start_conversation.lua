-- Start a visitor's conversation in one step: return the one they have open,
-- or create it (and, when asked, queue it) atomically, so a conversation is
-- never left created but not queued, and two starts at once give one.
--
-- KEYS[1..5] and ARGV[1..7]: as every routing script (include/routing_change.lua)
-- KEYS[1] = agent profiles hash     <prefix>:{rt}:agents
-- KEYS[6] = conversation hash       <prefix>:{rt}:conv:<id>
-- KEYS[7] = pending events zset     <prefix>:{rt}:pending:<id>
-- KEYS[8] = routing records list    <prefix>:{rt}:routing:<id>
-- KEYS[9] = the visitor's conversations  <prefix>:{rt}:vconv:<site>:<visitor>
-- KEYS[10] = the visitor's open one      <prefix>:{rt}:vopen:<site>:<visitor>
-- ARGV[1] = queue key prefix         <prefix>:{rt}:queue:       (+ skill)
-- ARGV[8] = 0 (no acknowledgements)
-- ARGV[9] = conversation id
-- ARGV[10] = created_at (index score)
-- ARGV[11] = number of record fields f, then f field/value pairs of the new record
-- then the "queue" change as transition.lua takes one (count, arguments), or nothing
-- Returns {"created" or "exists", conversation hash as a flat list, pending
-- event records oldest first}, or {"bad_state"} when the new id is taken.

local conv, pending, routing, id = KEYS[6], KEYS[7], KEYS[8], ARGV[9]

local open = redis.call('GET', KEYS[10])
if open then
  local state = redis.call('HGET', CONV_PREFIX .. open, 'state')
  if state and state ~= 'closed' then
    return {'exists', redis.call('HGETALL', CONV_PREFIX .. open), redis.call('ZRANGE', PENDING_PREFIX .. open, 0, -1)}
  end
end
if redis.call('EXISTS', conv) == 1 then return {'bad_state'} end

local fields = tonumber(ARGV[11])
local record = {}
for i = 12, 11 + 2 * fields do record[#record + 1] = ARGV[i] end
redis.call('HSET', conv, unpack(record))
redis.call('ZADD', KEYS[9], ARGV[10], id)
redis.call('ZADD', STATE_PREFIX .. 'open', ARGV[10], id)
redis.call('SET', KEYS[10], id)

local at = 12 + 2 * fields
if at <= #ARGV then
  local a = {}
  for j = 1, tonumber(ARGV[at]) do a[j] = ARGV[at + j] end
  local reply = apply(conv, pending, routing, a)
  reply[1] = 'created'
  return reply
end
local visitor = redis.call('HGET', conv, 'visitor_id')
remember(conv, pending, '', 'open', '', redis.call('HGET', conv, 'skill'), 'system', '', cmsgpack.pack({}), '', id,
         visitor)
return {'created', redis.call('HGETALL', conv), redis.call('ZRANGE', pending, 0, -1)}
