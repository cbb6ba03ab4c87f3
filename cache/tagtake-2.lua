-- tagtake-2.lua: atomically read and delete a tag set, and stamp the tag
-- with the invalidation time so that a loader that read the database
-- before this invalidation does not store its value under the tag.
-- KEYS[1] tag set, KEYS[2] tag stamp (same hash tag)
-- ARGV[1] now (Unix ms, invalidator's clock), ARGV[2] stamp TTL in ms
-- Returns the members (cache keys) the tag had.
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
local m = redis.call('SMEMBERS', KEYS[1])
redis.call('DEL', KEYS[1])
return m
