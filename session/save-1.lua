-- save-1.lua: create a session hash, or apply one request's changes to it.
--
-- KEYS[1]  the session hash
-- ARGV[1]  mode: "c" = create (fails if the hash exists),
--                "u" = update (fails if the hash is gone or past a deadline)
-- ARGV[2]  now, unix ms (deadlines in the hash are compared with it)
-- ARGV[3]  TTL for PEXPIRE in ms; "0" leaves the TTL alone
-- ARGV[4]  n, the number of field/value pairs that follow
-- ARGV[5 .. 4+2n]   field, value pairs to HSET (metadata fields included)
-- ARGV[5+2n ..]     fields to HDEL
--
-- Returns 1. Errors: ERR-CODE:GONE (update of a missing or expired
-- session: never resurrect it), ERR-CODE:EXISTS (create over a live hash).
local key = KEYS[1]
local mode = ARGV[1]
local now = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local n = tonumber(ARGV[4])

if mode == "c" then
  if redis.call("EXISTS", key) == 1 then
    return redis.error_reply("ERR-CODE:EXISTS session id taken")
  end
else
  local meta = redis.call("HMGET", key, "$abs", "$exp")
  if not meta[1] or not meta[2] then
    return redis.error_reply("ERR-CODE:GONE no session")
  end
  if tonumber(meta[1]) <= now or tonumber(meta[2]) <= now then
    return redis.error_reply("ERR-CODE:GONE session expired")
  end
end

-- unpack in chunks: Lua's C stack takes only a few thousand values.
local last = 4 + 2 * n
for i = 5, last, 1000 do
  redis.call("HSET", key, unpack(ARGV, i, math.min(i + 999, last)))
end
for i = last + 1, #ARGV, 1000 do
  redis.call("HDEL", key, unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
if ttl > 0 then
  redis.call("PEXPIRE", key, ttl)
end
return 1
