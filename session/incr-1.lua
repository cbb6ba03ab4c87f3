-- incr-1.lua: add to an integer field of a live session.
--
-- KEYS[1]  the session hash
-- ARGV[1]  now, unix ms
-- ARGV[2]  field
-- ARGV[3]  delta (integer)
--
-- Returns the new value. Errors: ERR-CODE:GONE (missing or expired
-- session), the HINCRBY error when the field is not an integer.
local key = KEYS[1]
local now = tonumber(ARGV[1])
local meta = redis.call("HMGET", key, "$abs", "$exp")
if not meta[1] or not meta[2] or tonumber(meta[1]) <= now or tonumber(meta[2]) <= now then
  return redis.error_reply("ERR-CODE:GONE no session")
end
return redis.call("HINCRBY", key, ARGV[2], ARGV[3])
