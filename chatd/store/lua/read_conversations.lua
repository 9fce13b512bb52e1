-- Read many conversation hashes with one command (they share a hash slot).
--
-- KEYS[1] = conversation hash   <prefix>:{rt}:conv:<id>, and so on for each
-- ARGV: none
-- Returns one flat field/value list per key, in order ({} for a missing one).
local found = {}
for i = 1, #KEYS do found[i] = redis.call('HGETALL', KEYS[i]) end
return found
