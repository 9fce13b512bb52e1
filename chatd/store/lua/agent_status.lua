-- Set a known agent's status.
--
-- KEYS[1] = agent profiles hash  <prefix>:{rt}:agents
-- KEYS[2] = agent status hash    <prefix>:{rt}:agent_status
-- ARGV[1] = agent id
-- ARGV[2] = status
-- Returns "ok", or "unknown_agent" (nothing changed).

if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 'unknown_agent' end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 'ok'
