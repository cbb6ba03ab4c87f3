-- wbegin-2.lua: register a write-through writer before its database write.
-- KEYS[1] writers-in-flight counter, KEYS[2] overlap marker (same hash tag)
-- ARGV[1] marker TTL in ms (the longest a database write may take)
-- Returns the number of writers in flight, this one included.
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
if n > 1 then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[1])
end
return n
