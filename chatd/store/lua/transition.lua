-- Apply lifecycle changes to conversations' routing state, one after the
-- other, each atomically: state compare-and-set, owner and agents' loads,
-- queue membership, skill and priority, state index, an optional routing
-- explanation; then keep the event pending so append.lua can log it. A refused
-- change changes nothing and does not stop the ones after it. A change whose op
-- id was applied already is not applied again (a retry after a lost reply).
-- First, acknowledgements of events logged earlier drop their pending records.
--
-- KEYS[1..5] and ARGV[1..7]: as every routing script (include/routing_change.lua)
-- KEYS[1] = agent profiles hash    <prefix>:{rt}:agents
-- KEYS[5] = unlogged index         <prefix>:{rt}:unlogged
-- then three keys per change:
-- KEYS[6+3i] = conversation hash     <prefix>:{rt}:conv:<id>
-- KEYS[7+3i] = pending events zset   <prefix>:{rt}:pending:<id>
-- KEYS[8+3i] = routing records list  <prefix>:{rt}:routing:<id>
-- ARGV[1] = queue key prefix        <prefix>:{rt}:queue:       (+ skill)
-- ARGV[4] = now (epoch seconds, stored as given)
-- ARGV[8] = number of acknowledgements k, then k pairs: conversation id, newest logged number
-- then per change, the number of its arguments and these arguments:
--   1 conversation id          2 allowed source states, space separated
--   3 state afterwards         4 owner afterwards ("" for none)
--   5 new skill ("" to keep)   6 new priority ("" to keep)
--   7 queue: "add", "remove" or ""                8 queue key (score) when adding
--   9 event name               10 actor role      11 actor id
--   12 event details (msgpack map, passed through)
--   13 routing explanation to add (msgpack, "" for none)
--   14 op id ("" for none)
--   15.. other conversation fields to set: name, value, name, value, ...
-- Returns one reply per change: {"ok", conversation hash as a flat list,
-- pending event records oldest first} or {refusal}: "unknown_conversation",
-- "bad_state", "unknown_agent", "at_capacity".

local replies = {}
local at, key = acknowledge_all(), 6
while at <= #ARGV do
  local count = tonumber(ARGV[at])
  local a = {}
  for j = 1, count do a[j] = ARGV[at + j] end
  replies[#replies + 1] = apply(KEYS[key], KEYS[key + 1], KEYS[key + 2], a)
  at, key = at + count + 1, key + 3
end
return replies
