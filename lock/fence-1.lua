-- fence-1.lua: raise a fence counter to at least a token (Redlock only).
--
-- KEYS[1]  the fence counter of the lock
-- ARGV[1]  the token chosen for this acquisition (the maximum drawn on the
--          quorum)
--
-- Returns the counter's value afterwards. A counter is never lowered, so a
-- later acquisition whose quorum meets this node draws a larger token.
local c = tonumber(redis.call('GET', KEYS[1]) or '0')
local t = tonumber(ARGV[1])
if c < t then
  redis.call('SET', KEYS[1], ARGV[1])
  return t
end
return c
