-- Read a page of one conversation's log, with its epoch and bounds.
--
-- KEYS[1] = seq counter        <prefix>:{c:<id>}:seq
-- KEYS[2] = log stream         <prefix>:{c:<id>}:log
-- KEYS[3] = state mirror hash  <prefix>:{c:<id>}:state
-- ARGV[1] = lowest stream id ("-" or "<seq>-0")
-- ARGV[2] = highest stream id ("+" or "<seq>-1")
-- ARGV[3] = most entries to return (0: bounds only)
-- ARGV[4] = "1" for the newest entries first (paging backwards), else "0"
-- Returns {epoch, first seq kept (0 when empty), newest seq ever written, entries}
-- (a log that does not exist: {epoch, 0, 0, {}}, and no key is made)
-- where entries are stream rows {id, {field, value, ...}} in the order asked.

if redis.call('EXISTS', KEYS[1]) == 0 then
  -- no log (never written, or forgotten once archived): say so without
  -- leaving a key behind; the first append sets this same epoch
  return {string.sub(string.match(redis.call('INFO', 'server'), 'run_id:(%x+)'), 1, 8), 0, 0, {}}
end
local epoch = log_epoch(KEYS[3])
local rows = {}
local count = tonumber(ARGV[3])
if count > 0 then
  if ARGV[4] == '1' then
    rows = redis.call('XREVRANGE', KEYS[2], ARGV[2], ARGV[1], 'COUNT', count)
  else
    rows = redis.call('XRANGE', KEYS[2], ARGV[1], ARGV[2], 'COUNT', count)
  end
end
local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
local first_seq = 0
if first[1] then first_seq = tonumber(string.match(first[1][1], '^(%d+)')) end
return {epoch, first_seq, tonumber(redis.call('GET', KEYS[1]) or '0'), rows}
