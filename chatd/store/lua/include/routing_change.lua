-- Shared by the scripts that change routing state (prepended to them); they run
-- in the {rt} slot, and their first keys and arguments are always these:
-- KEYS[1] = agent profiles hash    KEYS[2] = last assignment hash
-- KEYS[3] = queued skills set      KEYS[4] = routing clock     KEYS[5] = unlogged index
-- ARGV[1] = queue key prefix       ARGV[2] = active set key prefix
-- ARGV[3] = state index prefix     ARGV[4] = now
-- ARGV[5] = routing explanations to keep
-- ARGV[6] = conversation key prefix ARGV[7] = pending events key prefix
--
-- remember(...) numbers a change of one conversation and keeps its event as a
-- pending record until append.lua has logged it and the logging was
-- acknowledged (acknowledge(...)). A record is the msgpack array
--   {n, event, state, owner, skill, actor_role, actor_id, now, details, tick, op, visitor}
-- where tick numbers the change in one order shared by every conversation and
-- event "" means a change that logs no entry (it only sets up the mirror).

local AGENTS, LAST_ASSIGNED, QUEUED_SKILLS, CLOCK, UNLOGGED = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local QUEUE_PREFIX, ACTIVE_PREFIX, STATE_PREFIX, NOW = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local ROUTING_KEPT, CONV_PREFIX, PENDING_PREFIX = tonumber(ARGV[5]), ARGV[6], ARGV[7]

local function remember(conv, pending, event, to_state, owner, skill, role, actor, details, op, id, visitor)
  local n = redis.call('HINCRBY', conv, 'tn', 1)
  local tick = redis.call('INCR', CLOCK)
  redis.call('ZADD', pending, n, cmsgpack.pack({n, event, to_state, owner, skill, role, actor, NOW, details, tick,
                                                 op, visitor}))
  redis.call('ZADD', UNLOGGED, 'NX', NOW, id)
  if op ~= '' then redis.call('HSET', conv, 'op', op) end
end

-- Logged records up to n of a conversation are dropped; a conversation with
-- none left pending leaves the unlogged index.
local function acknowledge(id, n)
  local pending = PENDING_PREFIX .. id
  redis.call('ZREMRANGEBYSCORE', pending, '-inf', n)
  if redis.call('ZCARD', pending) == 0 then redis.call('ZREM', UNLOGGED, id) end
end

-- Take the acknowledgements at ARGV[8] (a count k, then k pairs: conversation
-- id, newest logged number); returns the index of the argument after them.
local function acknowledge_all()
  local k = tonumber(ARGV[8])
  for i = 9, 8 + 2 * k, 2 do acknowledge(ARGV[i], ARGV[i + 1]) end
  return 9 + 2 * k
end

-- Whether the change with this op id was applied already (a retry after its
-- reply was lost): the conversation's last op, or one of its pending records.
local function applied_before(conv, pending, op)
  if op == '' then return false end
  if redis.call('HGET', conv, 'op') == op then return true end
  for _, record in ipairs(redis.call('ZRANGE', pending, 0, -1)) do
    if cmsgpack.unpack(record)[11] == op then return true end
  end
  return false
end

-- One change: a = its arguments (see transition.lua), conv/pending/routing its keys.
local function apply(conv, pending, routing, a)
  local id, to_state, owner, op = a[1], a[3], a[4], a[14]
  if applied_before(conv, pending, op) then
    return {'ok', redis.call('HGETALL', conv), redis.call('ZRANGE', pending, 0, -1)}
  end
  local current = redis.call('HMGET', conv, 'state', 'agent_id', 'skill', 'priority', 'created_at', 'visitor_id')
  local state = current[1]
  if not state then return {'unknown_conversation'} end
  local allowed = false
  for source in string.gmatch(a[2], '%S+') do
    if source == state then allowed = true end
  end
  if not allowed then return {'bad_state'} end
  local old_owner, skill = current[2] or '', current[3] or ''
  local created_at, visitor = current[5] or '0', current[6] or ''

  if owner ~= '' and owner ~= old_owner then
    local profile = redis.call('HGET', AGENTS, owner)
    if not profile then return {'unknown_agent'} end
    local capacity = tonumber(cmsgpack.unpack(profile).capacity) or 0
    if redis.call('ZCARD', ACTIVE_PREFIX .. owner) >= capacity then return {'at_capacity'} end
  end

  -- Nothing below refuses: the change is applied whole.
  if owner ~= old_owner then
    if old_owner ~= '' then redis.call('ZREM', ACTIVE_PREFIX .. old_owner, id) end
    if owner ~= '' then
      redis.call('ZADD', ACTIVE_PREFIX .. owner, created_at, id)
      redis.call('HSET', LAST_ASSIGNED, owner, NOW)
      redis.call('HSET', conv, 'assigned_at', NOW, 'last_agent_id', owner)
    end
    redis.call('HSET', conv, 'agent_id', owner)
  end
  if a[7] ~= '' then
    local queue = QUEUE_PREFIX .. skill
    if redis.call('ZREM', queue, id) == 1 and redis.call('ZCARD', queue) == 0 then
      redis.call('SREM', QUEUED_SKILLS, skill)
    end
  end
  if a[5] ~= '' then
    skill = a[5]
    redis.call('HSET', conv, 'skill', skill)
  end
  if a[6] ~= '' then redis.call('HSET', conv, 'priority', a[6]) end
  if a[7] == 'add' then
    redis.call('ZADD', QUEUE_PREFIX .. skill, a[8], id)
    redis.call('SADD', QUEUED_SKILLS, skill)
    redis.call('HSET', conv, 'queued_at', NOW)
  end
  if to_state ~= state then
    redis.call('ZREM', STATE_PREFIX .. state, id)
    redis.call('ZADD', STATE_PREFIX .. to_state, created_at, id)
    redis.call('HSET', conv, 'state', to_state)
  end
  if to_state == 'closed' then redis.call('HSET', conv, 'closed_at', NOW) end
  for i = 15, #a, 2 do redis.call('HSET', conv, a[i], a[i + 1]) end

  remember(conv, pending, a[9], to_state, owner, skill, a[10], a[11], a[12], op, id, visitor)
  if a[13] ~= '' then
    redis.call('RPUSH', routing, a[13])
    redis.call('LTRIM', routing, -ROUTING_KEPT, -1)
  end
  return {'ok', redis.call('HGETALL', conv), redis.call('ZRANGE', pending, 0, -1)}
end
