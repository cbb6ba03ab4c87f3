-- acquire-fair-4.lua: take a lock in FIFO order (Options.Fair), drawing
-- its fencing token, or join the queue.
--
-- KEYS[1]  the lock key (holds "<owner>:<token>:<holder>")
-- KEYS[2]  the fence counter of the lock
-- KEYS[3]  the queue: sorted set owner -> arrival number
-- KEYS[4]  the waiters hash: owner -> deadline (ms), and "#seq", the
--          arrival counter
-- ARGV[1]  owner: the random id of this acquire call (no ':')
-- ARGV[2]  ttl in milliseconds
-- ARGV[3]  holder description
-- ARGV[4]  now, in milliseconds (the caller's clock)
-- ARGV[5]  how long a queue entry lives without a new attempt, ms
-- ARGV[6]  "1" to join (or stay in) the queue when it is not our turn
--
-- Queue entries whose deadline passed (a waiter that died) are dropped
-- from the head. The lock is granted when it is free and the queue is
-- empty or starts with owner. Returns {1, token} when held by owner
-- (idempotent, like acquire-3.lua), {0, value, pttl} when another owner
-- holds it, {0, "", 0} when it is free but another waiter is first, and
-- {0, 0, pttl, type} when the key is not a string (a foreign key).
local now = tonumber(ARGV[4])
local v = redis.pcall('GET', KEYS[1])
if type(v) == 'table' and v.err then
  return {0, 0, redis.call('PTTL', KEYS[1]), redis.call('TYPE', KEYS[1]).ok}
end
local mine = ARGV[1] .. ':'
if v and string.sub(v, 1, #mine) == mine then
  local token = string.match(string.sub(v, #mine + 1), '^(%d+)')
  return {1, tonumber(token)}
end
local head
while true do
  head = redis.call('ZRANGE', KEYS[3], 0, 0)[1]
  if not head then break end
  local dl = tonumber(redis.call('HGET', KEYS[4], head) or '0')
  if dl >= now then break end
  redis.call('ZREM', KEYS[3], head)
  redis.call('HDEL', KEYS[4], head)
end
if not v and (not head or head == ARGV[1]) then
  if head then
    redis.call('ZREM', KEYS[3], head)
    redis.call('HDEL', KEYS[4], head)
  end
  local token = redis.call('INCR', KEYS[2])
  redis.call('SET', KEYS[1], ARGV[1] .. ':' .. token .. ':' .. ARGV[3], 'PX', ARGV[2])
  return {1, token}
end
if ARGV[6] == '1' then
  if not redis.call('ZSCORE', KEYS[3], ARGV[1]) then
    redis.call('ZADD', KEYS[3], redis.call('HINCRBY', KEYS[4], '#seq', 1), ARGV[1])
  end
  redis.call('HSET', KEYS[4], ARGV[1], now + tonumber(ARGV[5]))
end
if v then
  return {0, v, redis.call('PTTL', KEYS[1])}
end
return {0, '', 0}
