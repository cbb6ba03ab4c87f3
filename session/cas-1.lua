-- cas-1.lua: compare-and-set one field of a live session.
--
-- KEYS[1]  the session hash
-- ARGV[1]  now, unix ms
-- ARGV[2]  field
-- ARGV[3]  "1" if the field must currently hold ARGV[4], "0" if it must be absent
-- ARGV[4]  expected value (ignored when ARGV[3] is "0")
-- ARGV[5]  "1" to set the field to ARGV[6], "0" to delete it
-- ARGV[6]  new value (ignored when ARGV[5] is "0")
--
-- Returns {1} when swapped, {0, current value or false} when the current
-- value did not match.
-- Errors: ERR-CODE:GONE (missing or expired session).
local key = KEYS[1]
local now = tonumber(ARGV[1])
local meta = redis.call("HMGET", key, "$abs", "$exp")
if not meta[1] or not meta[2] or tonumber(meta[1]) <= now or tonumber(meta[2]) <= now then
  return redis.error_reply("ERR-CODE:GONE no session")
end
local cur = redis.call("HGET", key, ARGV[2])
if ARGV[3] == "1" then
  if cur ~= ARGV[4] then return {0, cur} end
else
  if cur then return {0, cur} end
end
if ARGV[5] == "1" then
  redis.call("HSET", key, ARGV[2], ARGV[6])
else
  redis.call("HDEL", key, ARGV[2])
end
return {1}
