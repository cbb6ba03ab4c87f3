-- connect-cas-1.lua: compare-and-swap one top-level key of an
-- express-session object (connect.lua is prepended), comparing the raw
-- JSON bytes.
--
-- KEYS[1]  the session key
-- ARGV[1]  top-level key
-- ARGV[2]  "1" if the key must currently hold ARGV[3], "0" if it must be absent
-- ARGV[3]  expected raw value (ignored when ARGV[2] is "0")
-- ARGV[4]  "1" to set the key to ARGV[5], "0" to delete it
-- ARGV[5]  new raw value (ignored when ARGV[4] is "0")
--
-- Returns {1} when swapped, {0, current raw value or false} when not.
-- Errors: ERR-CODE:GONE, ERR-CODE:BADBLOB.
local key = KEYS[1]
local name = ARGV[1]
local ms = members(blobOf(key))
local cur = find(ms, name)
if ARGV[2] == "1" then
  if cur ~= ARGV[3] then return {0, cur or false} end
elseif cur then
  return {0, cur}
end
if ARGV[4] == "1" then
  store(key, rebuild(ms, {[name] = ARGV[5]}, {name}, {}), 0)
else
  store(key, rebuild(ms, {}, {}, {[name] = true}), 0)
end
return {1}
