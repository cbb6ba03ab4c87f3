-- create-1.lua: write a new session hash. (Changes to a stored session
-- are a MULTI/EXEC in Go, see Manager.update.)
--
-- KEYS[1]  the session hash
-- ARGV[1]  TTL for PEXPIRE in ms
-- ARGV[2]  n, the number of field/value pairs that follow
-- ARGV[3 .. 2+2n]  field, value pairs (metadata fields included)
--
-- Returns 1. Errors: ERR-CODE:EXISTS when the hash exists (a token
-- collision, or a replayed create).
local key = KEYS[1]
local ttl = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
if redis.call("EXISTS", key) == 1 then
  return redis.error_reply("ERR-CODE:EXISTS session id taken")
end
-- unpack in chunks: Lua's C stack takes only a few thousand values.
local last = 2 + 2 * n
for i = 3, last, 1000 do
  redis.call("HSET", key, unpack(ARGV, i, math.min(i + 999, last)))
end
redis.call("PEXPIRE", key, ttl)
return 1
