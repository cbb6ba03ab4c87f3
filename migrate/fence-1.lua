-- fence-1.lua: carry a lock fence counter over to the target, raised so
-- that no token the source issued can be issued again.
--
-- KEYS[1]  the fence counter on the target ("<prefix>{<name>}:fence")
-- ARGV[1]  the counter's value on the source
-- ARGV[2]  bump: added on top of the higher of the two values
--
-- Returns the new value: max(target, source) + bump.
local cur = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
local src = tonumber(ARGV[1])
if src > cur then cur = src end
local v = cur + tonumber(ARGV[2])
redis.call('SET', KEYS[1], v)
return v
