-- tagadd-2.lua: record a cache key under a tag before its value is stored.
-- KEYS[1] tag set, KEYS[2] tag stamp (same hash tag)
-- ARGV[1] cache key, ARGV[2] tag set TTL in ms
-- Returns the tag's last invalidation time (Unix ms), 0 if none is known.
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return tonumber(redis.call('GET', KEYS[2]) or '0')
