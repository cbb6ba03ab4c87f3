-- release-3.lua: delete a lock this owner holds and wake the next waiter.
--
-- KEYS[1]  the lock key
-- KEYS[2]  the lock's FIFO queue (sorted set owner -> arrival; empty
--          unless Options.Fair)
-- KEYS[3]  the "someone waits" marker set by acquire-3.lua
-- ARGV[1]  owner: the random id given to the acquire script (the value
--          "<owner>:<token>:<holder>" is matched on its owner part, so a
--          caller that lost the acquire reply can still undo it)
-- ARGV[2]  the lock's release channel (same hash tag as KEYS[1], so the
--          sharded SPUBLISH goes to the shard that owns the lock)
--
-- Publishes the owner id at the head of the queue (the one waiter whose
-- turn it is), else "1" when the marker says someone waits (any waiter
-- may take it), else nothing: an uncontended release costs no message.
-- Returns 1 when deleted (and published), 0 when the key is gone or holds
-- another value: a lock someone else holds is never touched.
local v = redis.call('GET', KEYS[1])
local mine = ARGV[1] .. ':'
if v and string.sub(v, 1, #mine) == mine then
  redis.call('DEL', KEYS[1])
  local head = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
  if head then
    redis.call('SPUBLISH', ARGV[2], head)
  elseif redis.call('EXISTS', KEYS[3]) == 1 then
    redis.call('SPUBLISH', ARGV[2], '1')
  end
  return 1
end
return 0
