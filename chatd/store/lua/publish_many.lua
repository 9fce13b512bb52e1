-- Publish several messages with one command, in order.
--
-- KEYS: none (channels are not keys)
-- ARGV[1] = channel, ARGV[2] = payload, ARGV[3] = channel, ARGV[4] = payload, ...
-- Returns the number of messages published.
for i = 1, #ARGV, 2 do redis.call('PUBLISH', ARGV[i], ARGV[i + 1]) end
return #ARGV / 2
