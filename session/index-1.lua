-- index-1.lua: add a session to its user's index and drop entries that
-- are past any possible absolute deadline.
--
-- KEYS[1]  the user's index zset
-- ARGV[1]  now, unix ms
-- ARGV[2]  session id (member)
-- ARGV[3]  lifetime in ms: members added before now-lifetime are dead
--
-- Returns the number of members after the update.
local key = KEYS[1]
local now = tonumber(ARGV[1])
local life = tonumber(ARGV[3])
redis.call("ZADD", key, now, ARGV[2])
redis.call("ZREMRANGEBYSCORE", key, "-inf", "(" .. tostring(now - life))
local newest = redis.call("ZRANGE", key, -1, -1, "WITHSCORES")
local ttl = tonumber(newest[2]) + life - now
if ttl < 1 then ttl = 1 end
redis.call("PEXPIRE", key, ttl)
return redis.call("ZCARD", key)
