-- connect-incr-1.lua: add to an integer top-level key of an
-- express-session object (connect.lua is prepended). An absent key
-- counts as 0.
--
-- KEYS[1]  the session key
-- ARGV[1]  top-level key
-- ARGV[2]  delta (integer)
--
-- Returns the new value. Errors: ERR-CODE:GONE, ERR-CODE:BADBLOB,
-- ERR-CODE:NOTINT (the value is not an integer of at most 15 digits, so
-- Lua's doubles hold it exactly).
local key = KEYS[1]
local ms = members(blobOf(key))
local cur = find(ms, ARGV[1]) or "0"
if not string.find(cur, "^%-?%d+$") or #cur > 16 then
  return redis.error_reply("ERR-CODE:NOTINT value is not an integer")
end
local n = tonumber(cur) + tonumber(ARGV[2])
if math.abs(n) >= 1e15 then
  return redis.error_reply("ERR-CODE:NOTINT result out of range")
end
local v = string.format("%d", n)
store(key, rebuild(ms, {[ARGV[1]] = v}, {ARGV[1]}, {}), 0)
return n
