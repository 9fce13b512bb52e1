-- Reopen a closed conversation unless its visitor has another one open, and
-- make it the visitor's open one, in one step (as start_conversation.lua keeps
-- one open conversation per visitor).
--
-- KEYS[1..5] and ARGV[1..7]: as every routing script (include/routing_change.lua)
-- KEYS[1] = agent profiles hash     <prefix>:{rt}:agents
-- KEYS[6] = conversation hash       <prefix>:{rt}:conv:<id>
-- KEYS[7] = pending events zset     <prefix>:{rt}:pending:<id>
-- KEYS[8] = routing records list    <prefix>:{rt}:routing:<id>
-- KEYS[9] = the visitor's open one  <prefix>:{rt}:vopen:<site>:<visitor>
-- ARGV[1] = queue key prefix        <prefix>:{rt}:queue:       (+ skill)
-- ARGV[8] = 0 (no acknowledgements)
-- ARGV[9] = the number of the "reopen" change's arguments, then those arguments as transition.lua takes
--           them (ARGV[10] = the conversation id)
-- Returns what transition.lua returns for one change, or {"bad_state"} when
-- the visitor has another conversation open.

local conv, id = KEYS[6], ARGV[10]
local open = redis.call('GET', KEYS[9])
if open and open ~= id then
  local state = redis.call('HGET', CONV_PREFIX .. open, 'state')
  if state and state ~= 'closed' then return {'bad_state'} end
end
local a = {}
for j = 1, tonumber(ARGV[9]) do a[j] = ARGV[9 + j] end
local reply = apply(conv, KEYS[7], KEYS[8], a)
if reply[1] == 'ok' then redis.call('SET', KEYS[9], id) end
return reply
