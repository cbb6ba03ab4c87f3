-- fill-2.lua: store a loaded value if the loader still holds its lease.
-- A write or an invalidation deletes the lease, so a loader that read the
-- database before that write cannot store its old value (the stale-set race).
-- KEYS[1] value key, KEYS[2] lease key (same hash tag)
-- ARGV[1] lease token, ARGV[2] value, ARGV[3] TTL in ms ("0": only release
--         the lease, store nothing)
-- Returns 1 when stored (or released), 0 when the lease was lost.
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[2])
if ARGV[3] ~= '0' then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return 1
