-- lease-2.lua: read a value, or take the load lease when there is none.
-- KEYS[1] value key, KEYS[2] lease key (same hash tag)
-- ARGV[1] lease token, ARGV[2] lease TTL in ms,
-- ARGV[3] "1" to ignore an existing value (it was corrupt or is being
--         refreshed early), "0" otherwise
-- Returns {0, value} when a value exists (and ARGV[3] is "0");
--         {1} when the lease was taken by ARGV[1];
--         {2} when another loader holds the lease.
if ARGV[3] ~= '1' then
  local v = redis.call('GET', KEYS[1])
  if v then
    return {0, v}
  end
end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {1}
end
return {2}
