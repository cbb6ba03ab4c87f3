-- connect-save-1.lua: apply one request's changed and deleted top-level
-- keys to an express-session object (connect.lua is prepended), leaving
-- every other key as Node or another request last wrote it.
--
-- KEYS[1]  the session key ("<prefix><sid>")
-- ARGV[1]  TTL in seconds to set (a touch), or "0" to keep the key's TTL
-- ARGV[2]  n, the number of key/value pairs that follow
-- ARGV[3 .. 2+2n]  top-level key, raw JSON value to set ("cookie" included on a touch)
-- ARGV[3+2n ..]    top-level keys to delete
--
-- Returns 1. Errors: ERR-CODE:GONE (the key is gone), ERR-CODE:BADBLOB
-- (it is not an express-session object; left untouched).
local key = KEYS[1]
local ttl = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local ms = members(blobOf(key))
local sets, order, dels = {}, {}, {}
for i = 3, 2 + 2 * n, 2 do
  sets[ARGV[i]] = ARGV[i + 1]
  order[#order + 1] = ARGV[i]
end
for i = 3 + 2 * n, #ARGV do
  dels[ARGV[i]] = true
end
store(key, rebuild(ms, sets, order, dels), ttl)
return 1
