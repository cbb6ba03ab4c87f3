-- wend-4.lua: after a write-through writer's commit (or failure), make the
-- cache consistent: invalidate, then fill with the committed value only if
-- no other writer overlapped this one (overlapping writers may have
-- committed in any order, so the value is left to the next reader).
-- KEYS[1] value key, KEYS[2] lease key, KEYS[3] writers counter,
-- KEYS[4] overlap marker (same hash tag)
-- ARGV[1] value ("" to only invalidate), ARGV[2] TTL in ms,
-- ARGV[3] marker TTL in ms
-- Returns 1 when the value was stored, 0 when the entry was invalidated.
local n = redis.call('DECR', KEYS[3])
redis.call('DEL', KEYS[2])
if n > 0 then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[4], '1', 'PX', ARGV[3])
  return 0
end
redis.call('DEL', KEYS[3])
local overlapped = redis.call('DEL', KEYS[4]) == 1
if overlapped or ARGV[1] == '' then
  redis.call('DEL', KEYS[1])
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
