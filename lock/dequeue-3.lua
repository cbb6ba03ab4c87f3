-- dequeue-3.lua: leave the FIFO queue (a waiter that gives up), waking
-- the next waiter if the lock is free and it was waiting behind us.
--
-- KEYS[1]  the lock key
-- KEYS[2]  the queue (sorted set owner -> arrival)
-- KEYS[3]  the waiters hash (owner -> deadline)
-- ARGV[1]  owner
-- ARGV[2]  the lock's release channel
--
-- Returns 1 when owner was queued, 0 otherwise.
local was = redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
if was == 1 and redis.call('EXISTS', KEYS[1]) == 0 then
  local head = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
  if head then
    redis.call('SPUBLISH', ARGV[2], head)
  end
end
return was
