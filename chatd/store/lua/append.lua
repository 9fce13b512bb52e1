-- Append entries to one conversation's log: dedupe, number, store, trim, publish.
-- Messages are refused when the conversation is unknown or closed, and when the
-- sender does not take part in it now (an agent who is not its owner, a visitor
-- who is not its visitor). Transition events (transition number given) are
-- applied once each, in transition order, and move the state mirror, so
-- messages are refused exactly after "closed".
--
-- KEYS[1] = seq counter        <prefix>:{c:<id>}:seq
-- KEYS[2] = log stream         <prefix>:{c:<id>}:log
-- KEYS[3] = dedupe hash        <prefix>:{c:<id>}:dedupe
-- KEYS[4] = state mirror hash  <prefix>:{c:<id>}:state
-- ARGV[1] = entries to keep in the log (retention)
-- ARGV[2] = channel to publish each new entry on
-- ARGV[3] = publication head: msgpack {"type": "entry", "entry": <map of 10>
--           up to and including the "conversation_id" pair
-- then six arguments per entry, in order:
-- ARGV[4+6i] = dedupe key ("" for events): "<role>|<sender>|<client_msg_id>" or "op|<token>"
-- ARGV[5+6i] = transition number ("" for a message)
-- ARGV[6+6i] = events: state after the transition; messages: the sender's role
-- ARGV[7+6i] = events: owner after the transition; messages: the sender's id
-- ARGV[8+6i] = events: the conversation's visitor; messages: ""
-- ARGV[9+6i] = the entry: msgpack map of its 7 other fields (no seq, no
--              conversation_id), or "" for a transition that logs nothing
--              (a conversation created for the bot: only the mirror is set)
-- Returns {status, seq, duplicate 0/1, first copy's stored entry or "", epoch,
-- newest transition number logged} for the last entry; status is "ok",
-- "unknown_conversation", "conversation_closed" or "forbidden".

local retention = tonumber(ARGV[1])
local EVENT_SEQS_KEPT = 16  -- t<n> fields kept in the mirror
local mirror = KEYS[4]
local epoch = log_epoch(mirror)
local current = redis.call('HMGET', mirror, 'state', 'tn', 'owner', 'visitor')
local state, applied, owner, visitor = current[1], tonumber(current[2] or '0'), current[3] or '', current[4] or ''

-- Drop entries older than the retention window, with their dedupe keys, at
-- most 100 per append (more only if the retention was lowered).
local function trim(seq)
  local keep_from = seq - retention + 1
  if keep_from <= 1 then return end
  local old = redis.call('XRANGE', KEYS[2], '-', (keep_from - 1) .. '-1', 'COUNT', 100)
  if #old == 0 then return end
  local ids = {}
  for _, item in ipairs(old) do
    local fields = item[2]
    for j = 1, #fields, 2 do
      if fields[j] == 'm' then ids[#ids + 1] = fields[j + 1] end
    end
  end
  if #ids > 0 then redis.call('HDEL', KEYS[3], unpack(ids)) end
  local last = tonumber(string.match(old[#old][1], '^(%d+)'))
  redis.call('XTRIM', KEYS[2], 'MINID', (last + 1) .. '-0')
end

local function add(dedupe, stored)
  local seq = redis.call('INCR', KEYS[1])
  if dedupe == '' then
    redis.call('XADD', KEYS[2], seq .. '-1', 'e', stored)
  else
    redis.call('XADD', KEYS[2], seq .. '-1', 'e', stored, 'm', dedupe)
    redis.call('HSET', KEYS[3], dedupe, seq)
  end
  trim(seq)
  -- The entry's map minus its header byte, then the "seq" and "epoch" pairs:
  -- the whole publication is one msgpack map equal to pack_publication("entry", ...).
  redis.call('PUBLISH', ARGV[2], ARGV[3] .. string.sub(stored, 2) .. '\163seq' .. cmsgpack.pack(seq)
             .. '\165epoch' .. cmsgpack.pack(epoch))
  return seq
end

local result = {'ok', 0, 0, '', epoch, applied}
for i = 4, #ARGV, 6 do
  local dedupe, n, a, b, c, stored = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
  if n == '' then
    if not state then return {'unknown_conversation', 0, 0, '', epoch, applied} end
    local first = dedupe ~= '' and redis.call('HGET', KEYS[3], dedupe)
    if first then
      local copy = redis.call('XRANGE', KEYS[2], first .. '-1', first .. '-1')
      return {'ok', tonumber(first), 1, copy[1] and copy[1][2][2] or '', epoch, applied}
    end
    if state == 'closed' then return {'conversation_closed', 0, 0, '', epoch, applied} end
    if (a == 'agent' and b ~= owner) or (a == 'visitor' and b ~= visitor) then
      return {'forbidden', 0, 0, '', epoch, applied}
    end
    result = {'ok', add(dedupe, stored), 0, '', epoch, applied}
  else
    n = tonumber(n)
    if n <= applied then
      result = {'ok', tonumber(redis.call('HGET', mirror, 't' .. n) or '0'), 1, '', epoch, applied}
    else
      local seq = 0
      if stored ~= '' then seq = add('', stored) end
      state, owner, applied = a, b, n
      if c ~= '' then visitor = c end
      redis.call('HSET', mirror, 'state', state, 'owner', owner, 'visitor', visitor, 'tn', n, 't' .. n, seq)
      redis.call('HDEL', mirror, 't' .. (n - EVENT_SEQS_KEPT))
      result = {'ok', seq, 0, '', epoch, applied}
    end
  end
end
return result
