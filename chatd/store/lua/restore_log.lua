-- Put back a forgotten conversation's log as the archive has it, unless it
-- has a log already (another node restored it first).
--
-- KEYS[1] = seq counter        <prefix>:{c:<id>}:seq
-- KEYS[2] = log stream         <prefix>:{c:<id>}:log
-- KEYS[3] = dedupe hash        <prefix>:{c:<id>}:dedupe
-- KEYS[4] = state mirror hash  <prefix>:{c:<id>}:state
-- ARGV[1] = the newest seq ever written, ARGV[2] = the log's epoch,
-- ARGV[3] = the conversation's visitor
-- then three arguments per entry, oldest first:
-- ARGV[4+3i] = seq, ARGV[5+3i] = the stored entry (msgpack map of its 7 fields),
-- ARGV[6+3i] = its dedupe key ("" for none)
-- Returns 1 when restored, 0 when a log was there.

if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
for i = 4, #ARGV, 3 do
  if ARGV[i + 2] == '' then
    redis.call('XADD', KEYS[2], ARGV[i] .. '-1', 'e', ARGV[i + 1])
  else
    redis.call('XADD', KEYS[2], ARGV[i] .. '-1', 'e', ARGV[i + 1], 'm', ARGV[i + 2])
    redis.call('HSET', KEYS[3], ARGV[i + 2], ARGV[i])
  end
end
redis.call('SET', KEYS[1], ARGV[1])
local run = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)')
redis.call('HSET', KEYS[4], 'state', 'closed', 'owner', '', 'visitor', ARGV[3], 'tn', '0', 'epoch', ARGV[2],
           'run', run)
return 1
