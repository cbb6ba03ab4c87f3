-- set-1.lua: set fields of one bucket hash without letting it grow past
-- the listpack entry limit.
--
-- KEYS[1]  the bucket hash
-- ARGV[1]  maximum number of fields the bucket may hold
-- ARGV[2], ARGV[3], ...  field, value pairs
--
-- Returns the number of fields that were new. Raises
-- "ERR-CODE:FULL <fields now> <new fields>" and writes nothing when the
-- new fields would take the bucket past ARGV[1].
local max = tonumber(ARGV[1])
local added = 0
for i = 2, #ARGV, 2 do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 0 then
    added = added + 1
  end
end
if added > 0 then
  local n = redis.call('HLEN', KEYS[1])
  if n + added > max then
    return redis.error_reply('ERR-CODE:FULL ' .. n .. ' ' .. added)
  end
end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return added
