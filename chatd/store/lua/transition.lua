-- Apply lifecycle changes to conversations' routing state, one after the
-- other, each atomically: state compare-and-set, owner and agents' loads,
-- queue membership, skill and priority, state index, an optional routing
-- explanation; then record the event so append.lua can log it. A refused
-- change changes nothing and does not stop the ones after it.
--
-- KEYS[1] = agent profiles hash    <prefix>:{rt}:agents
-- KEYS[2] = last assignment hash   <prefix>:{rt}:agent_last
-- KEYS[3] = queued skills set      <prefix>:{rt}:skills
-- KEYS[4] = routing clock          <prefix>:{rt}:clock
-- then three keys per change:
-- KEYS[5+3i] = conversation hash     <prefix>:{rt}:conv:<id>
-- KEYS[6+3i] = pending events list   <prefix>:{rt}:pending:<id>
-- KEYS[7+3i] = routing records list  <prefix>:{rt}:routing:<id>
-- ARGV[1] = queue key prefix       <prefix>:{rt}:queue:       (+ skill)
-- ARGV[2] = active set key prefix  <prefix>:{rt}:active:      (+ agent id)
-- ARGV[3] = state index prefix     <prefix>:{rt}:state:       (+ state)
-- ARGV[4] = now (epoch seconds, stored as given)
-- ARGV[5] = pending events to keep
-- ARGV[6] = routing explanations to keep
-- then per change, the number of its arguments and these arguments:
--   1 conversation id          2 allowed source states, space separated
--   3 state afterwards         4 owner afterwards ("" for none)
--   5 new skill ("" to keep)   6 new priority ("" to keep)
--   7 queue: "add", "remove" or ""                8 "1" to queue at the front
--   9 event name               10 actor role      11 actor id
--   12 event details (msgpack map, passed through)
--   13 routing explanation to add (msgpack, "" for none)
--   14.. other conversation fields to set: name, value, name, value, ...
-- Returns one reply per change: {"ok", conversation hash as a flat list,
-- pending event records oldest first} or {refusal}: "unknown_conversation",
-- "bad_state", "unknown_agent", "at_capacity". An event record is a msgpack
-- array {n, event, state, agent_id, skill, actor_role, actor_id, now,
-- details, tick} where tick numbers the change in one order shared by every
-- conversation.

-- Keep in step with chatd.store.lifecycle.queue_score.
local LIMIT, BAND, SPAN = 500, 1001, 4000000000000
local function queue_score(priority, queued_at, front)
  local p = math.max(-LIMIT, math.min(LIMIT, priority))
  local slot = (front and 0 or BAND) + LIMIT - p
  local ms = math.max(0, math.min(SPAN - 1, math.floor(queued_at * 1000 + 0.5)))
  return string.format('%.0f', slot * SPAN + ms)
end

local queue_prefix, active_prefix, state_prefix = ARGV[1], ARGV[2], ARGV[3]
local now, pending_kept, routing_kept = ARGV[4], -tonumber(ARGV[5]), -tonumber(ARGV[6])

-- One change: a = its arguments (a[1] .. a[n]), conv/pending/routing its keys.
local function apply(conv, pending, routing, a)
  local id, to_state, owner = a[1], a[3], a[4]
  local current = redis.call('HMGET', conv, 'state', 'agent_id', 'skill', 'priority', 'created_at')
  local state = current[1]
  if not state then return {'unknown_conversation'} end
  local allowed = false
  for source in string.gmatch(a[2], '%S+') do
    if source == state then allowed = true end
  end
  if not allowed then return {'bad_state'} end
  local old_owner, skill = current[2] or '', current[3] or ''
  local priority, created_at = tonumber(current[4] or '0'), current[5] or '0'

  if owner ~= '' and owner ~= old_owner then
    local profile = redis.call('HGET', KEYS[1], owner)
    if not profile then return {'unknown_agent'} end
    local capacity = tonumber(cmsgpack.unpack(profile).capacity) or 0
    if redis.call('ZCARD', active_prefix .. owner) >= capacity then return {'at_capacity'} end
  end

  -- Nothing below refuses: the change is applied whole.
  if owner ~= old_owner then
    if old_owner ~= '' then redis.call('ZREM', active_prefix .. old_owner, id) end
    if owner ~= '' then
      redis.call('ZADD', active_prefix .. owner, created_at, id)
      redis.call('HSET', KEYS[2], owner, now)
      redis.call('HSET', conv, 'assigned_at', now)
    end
    redis.call('HSET', conv, 'agent_id', owner)
  end
  if a[7] ~= '' then
    local queue = queue_prefix .. skill
    if redis.call('ZREM', queue, id) == 1 and redis.call('ZCARD', queue) == 0 then
      redis.call('SREM', KEYS[3], skill)
    end
  end
  if a[5] ~= '' then
    skill = a[5]
    redis.call('HSET', conv, 'skill', skill)
  end
  if a[6] ~= '' then
    priority = tonumber(a[6])
    redis.call('HSET', conv, 'priority', a[6])
  end
  if a[7] == 'add' then
    redis.call('ZADD', queue_prefix .. skill, queue_score(priority, tonumber(now), a[8] == '1'), id)
    redis.call('SADD', KEYS[3], skill)
    redis.call('HSET', conv, 'queued_at', now)
  end
  if to_state ~= state then
    redis.call('ZREM', state_prefix .. state, id)
    redis.call('ZADD', state_prefix .. to_state, created_at, id)
    redis.call('HSET', conv, 'state', to_state)
  end
  if to_state == 'closed' then redis.call('HSET', conv, 'closed_at', now) end
  for i = 14, #a, 2 do redis.call('HSET', conv, a[i], a[i + 1]) end

  local n = redis.call('HINCRBY', conv, 'tn', 1)
  local tick = redis.call('INCR', KEYS[4])
  redis.call('RPUSH', pending, cmsgpack.pack({n, a[9], to_state, owner, skill, a[10], a[11], now, a[12], tick}))
  redis.call('LTRIM', pending, pending_kept, -1)
  if a[13] ~= '' then
    redis.call('RPUSH', routing, a[13])
    redis.call('LTRIM', routing, routing_kept, -1)
  end
  return {'ok', redis.call('HGETALL', conv), redis.call('LRANGE', pending, 0, -1)}
end

local replies = {}
local at, key = 7, 5
while at <= #ARGV do
  local count = tonumber(ARGV[at])
  local a = {}
  for j = 1, count do a[j] = ARGV[at + j] end
  replies[#replies + 1] = apply(KEYS[key], KEYS[key + 1], KEYS[key + 2], a)
  at, key = at + count + 1, key + 3
end
return replies
