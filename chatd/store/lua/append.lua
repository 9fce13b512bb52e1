-- Append entries to one conversation's log: dedupe, number, store, trim, publish.
-- Messages are refused when the conversation is unknown or closed. Transition
-- events (transition number given) are applied once each, in transition order,
-- and move the state mirror, so messages are refused exactly after "closed".
--
-- KEYS[1] = seq counter        <prefix>:{c:<id>}:seq
-- KEYS[2] = log stream         <prefix>:{c:<id>}:log
-- KEYS[3] = dedupe hash        <prefix>:{c:<id>}:dedupe
-- KEYS[4] = state mirror hash  <prefix>:{c:<id>}:state
-- ARGV[1] = entries to keep in the log (retention)
-- ARGV[2] = channel to publish each new entry on
-- ARGV[3] = publication head: msgpack {"type": "entry", "entry": <map of 9>
--           up to and including the "conversation_id" pair
-- then four arguments per entry, in order:
-- ARGV[4+4i] = client_msg_id ("" for none)
-- ARGV[5+4i] = transition number ("" for a message)
-- ARGV[6+4i] = state after the transition (events only)
-- ARGV[7+4i] = the entry: msgpack map of its 7 other fields (no seq, no conversation_id)
-- Returns {status, seq, duplicate 0/1, first copy's stored entry or ""} for the
-- last entry; status is "ok", "unknown_conversation" or "conversation_closed".

local retention = tonumber(ARGV[1])
local EVENT_SEQS_KEPT = 16  -- t<n> fields kept in the mirror (more than pending events kept)
local state = redis.call('HGET', KEYS[4], 'state')
local applied = tonumber(redis.call('HGET', KEYS[4], 'tn') or '0')

-- Drop entries older than the retention window, with their dedupe ids, at
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

local function add(cmid, stored)
  local seq = redis.call('INCR', KEYS[1])
  if cmid == '' then
    redis.call('XADD', KEYS[2], seq .. '-1', 'e', stored)
  else
    redis.call('XADD', KEYS[2], seq .. '-1', 'e', stored, 'm', cmid)
    redis.call('HSET', KEYS[3], cmid, seq)
  end
  trim(seq)
  -- The entry's map minus its header byte, then the "seq" pair: the whole
  -- publication is one msgpack map equal to pack_publication("entry", ...).
  redis.call('PUBLISH', ARGV[2], ARGV[3] .. string.sub(stored, 2) .. '\163seq' .. cmsgpack.pack(seq))
  return seq
end

local result = {'ok', 0, 0, ''}
for i = 4, #ARGV, 4 do
  local cmid, n, to_state, stored = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  if n == '' then
    if not state then return {'unknown_conversation', 0, 0, ''} end
    local first = cmid ~= '' and redis.call('HGET', KEYS[3], cmid)
    if first then
      local copy = redis.call('XRANGE', KEYS[2], first .. '-1', first .. '-1')
      return {'ok', tonumber(first), 1, copy[1] and copy[1][2][2] or ''}
    end
    if state == 'closed' then return {'conversation_closed', 0, 0, ''} end
    result = {'ok', add(cmid, stored), 0, ''}
  else
    n = tonumber(n)
    if n <= applied then
      result = {'ok', tonumber(redis.call('HGET', KEYS[4], 't' .. n) or '0'), 1, ''}
    else
      local seq = add('', stored)
      state, applied = to_state, n
      redis.call('HSET', KEYS[4], 'state', state, 'tn', n, 't' .. n, seq)
      redis.call('HDEL', KEYS[4], 't' .. (n - EVENT_SEQS_KEPT))
      result = {'ok', seq, 0, ''}
    end
  end
end
return result
