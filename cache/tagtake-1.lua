-- tagtake-1.lua: atomically read and delete a tag set.
-- KEYS[1] tag set
-- Returns the members (cache keys) the tag had.
local m = redis.call('SMEMBERS', KEYS[1])
redis.call('DEL', KEYS[1])
return m
