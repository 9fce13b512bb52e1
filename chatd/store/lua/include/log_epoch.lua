-- Shared by the scripts that touch a conversation's log (prepended to them).
--
-- log_epoch(mirror): the log's epoch. A log's seqs only mean something within
-- one epoch; it is renewed when the Redis server that holds the log is not the
-- one that wrote it last (a restart, maybe from an older AOF, or a failover to
-- a replica), since history written before may then have been lost and seqs
-- may be handed out again. The server's run_id changes at every start and is
-- not part of the data, so no rollback of the data can bring the old one back.
local function log_epoch(mirror)
  local run = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)')
  local known = redis.call('HMGET', mirror, 'epoch', 'run')
  if known[1] and known[2] == run then return known[1] end
  local epoch = string.sub(run, 1, 8)
  redis.call('HSET', mirror, 'epoch', epoch, 'run', run)
  return epoch
end
