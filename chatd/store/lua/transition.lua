-- Apply one lifecycle change to a conversation's routing state, atomically:
-- state compare-and-set, owner and agents' loads, queue membership, skill and
-- priority, state index; then record the event so append.lua can log it.
-- Refusals change nothing.
--
-- KEYS[1] = conversation hash      <prefix>:{rt}:conv:<id>
-- KEYS[2] = agent profiles hash    <prefix>:{rt}:agents
-- KEYS[3] = last assignment hash   <prefix>:{rt}:agent_last
-- KEYS[4] = queued skills set      <prefix>:{rt}:skills
-- KEYS[5] = pending events list    <prefix>:{rt}:pending:<id>
-- KEYS[6] = routing clock          <prefix>:{rt}:clock
-- KEYS[7] = routing records list   <prefix>:{rt}:routing:<id>
-- ARGV[1] = conversation id
-- ARGV[2] = queue key prefix       <prefix>:{rt}:queue:       (+ skill)
-- ARGV[3] = active set key prefix  <prefix>:{rt}:active:      (+ agent id)
-- ARGV[4] = state index prefix     <prefix>:{rt}:state:       (+ state)
-- ARGV[5] = now (epoch seconds, stored as given)
-- ARGV[6] = allowed source states, space separated
-- ARGV[7] = state afterwards
-- ARGV[8] = owner afterwards ("" for none)
-- ARGV[9] = new skill ("" to keep)
-- ARGV[10] = new priority ("" to keep)
-- ARGV[11] = queue: "add", "remove" or ""
-- ARGV[12] = "1" to queue at the front
-- ARGV[13] = event name
-- ARGV[14] = actor role
-- ARGV[15] = actor id
-- ARGV[16] = event details (msgpack map, passed through)
-- ARGV[17] = pending events to keep
-- ARGV[18] = routing explanation to add (msgpack, "" for none)
-- ARGV[19] = routing explanations to keep
-- ARGV[20..] = other conversation fields to set: name, value, name, value, ...
-- Returns {"ok", conversation hash as a flat list, pending event records oldest
-- first} or {refusal}: "unknown_conversation", "bad_state", "unknown_agent",
-- "at_capacity". An event record is a msgpack array
-- {n, event, state, agent_id, skill, actor_role, actor_id, now, details, tick}
-- where tick numbers the change in one order shared by every conversation.

-- Keep in step with chatd.store.lifecycle.queue_score.
local LIMIT, BAND, SPAN = 500, 1001, 4000000000000
local function queue_score(priority, queued_at, front)
  local p = math.max(-LIMIT, math.min(LIMIT, priority))
  local slot = (front and 0 or BAND) + LIMIT - p
  local ms = math.max(0, math.min(SPAN - 1, math.floor(queued_at * 1000 + 0.5)))
  return string.format('%.0f', slot * SPAN + ms)
end

local conv, id = KEYS[1], ARGV[1]
local queue_prefix, active_prefix, state_prefix = ARGV[2], ARGV[3], ARGV[4]
local now, to_state, owner = ARGV[5], ARGV[7], ARGV[8]

local current = redis.call('HMGET', conv, 'state', 'agent_id', 'skill', 'priority', 'created_at')
local state = current[1]
if not state then return {'unknown_conversation'} end
local allowed = false
for source in string.gmatch(ARGV[6], '%S+') do
  if source == state then allowed = true end
end
if not allowed then return {'bad_state'} end
local old_owner, skill = current[2] or '', current[3] or ''
local priority, created_at = tonumber(current[4] or '0'), current[5] or '0'

if owner ~= '' and owner ~= old_owner then
  local profile = redis.call('HGET', KEYS[2], owner)
  if not profile then return {'unknown_agent'} end
  local capacity = tonumber(cmsgpack.unpack(profile).capacity) or 0
  if redis.call('ZCARD', active_prefix .. owner) >= capacity then return {'at_capacity'} end
end

-- Nothing below refuses: the change is applied whole.
if owner ~= old_owner then
  if old_owner ~= '' then redis.call('ZREM', active_prefix .. old_owner, id) end
  if owner ~= '' then
    redis.call('ZADD', active_prefix .. owner, created_at, id)
    redis.call('HSET', KEYS[3], owner, now)
    redis.call('HSET', conv, 'assigned_at', now)
  end
  redis.call('HSET', conv, 'agent_id', owner)
end
if ARGV[11] ~= '' then
  local queue = queue_prefix .. skill
  if redis.call('ZREM', queue, id) == 1 and redis.call('ZCARD', queue) == 0 then
    redis.call('SREM', KEYS[4], skill)
  end
end
if ARGV[9] ~= '' then
  skill = ARGV[9]
  redis.call('HSET', conv, 'skill', skill)
end
if ARGV[10] ~= '' then
  priority = tonumber(ARGV[10])
  redis.call('HSET', conv, 'priority', ARGV[10])
end
if ARGV[11] == 'add' then
  redis.call('ZADD', queue_prefix .. skill, queue_score(priority, tonumber(now), ARGV[12] == '1'), id)
  redis.call('SADD', KEYS[4], skill)
  redis.call('HSET', conv, 'queued_at', now)
end
if to_state ~= state then
  redis.call('ZREM', state_prefix .. state, id)
  redis.call('ZADD', state_prefix .. to_state, created_at, id)
  redis.call('HSET', conv, 'state', to_state)
end
if to_state == 'closed' then redis.call('HSET', conv, 'closed_at', now) end
for i = 20, #ARGV, 2 do redis.call('HSET', conv, ARGV[i], ARGV[i + 1]) end

local n = redis.call('HINCRBY', conv, 'tn', 1)
local tick = redis.call('INCR', KEYS[6])
redis.call('RPUSH', KEYS[5], cmsgpack.pack({n, ARGV[13], to_state, owner, skill, ARGV[14], ARGV[15], now, ARGV[16],
                                            tick}))
redis.call('LTRIM', KEYS[5], -tonumber(ARGV[17]), -1)
if ARGV[18] ~= '' then
  redis.call('RPUSH', KEYS[7], ARGV[18])
  redis.call('LTRIM', KEYS[7], -tonumber(ARGV[19]), -1)
end
return {'ok', redis.call('HGETALL', conv), redis.call('LRANGE', KEYS[5], 0, -1)}
