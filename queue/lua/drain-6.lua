-- drain-6.lua: deletes the waiting and prioritized jobs (and delayed ones
-- when asked).
-- KEYS[1] wait  KEYS[2] prioritized  KEYS[3] delayed  KEYS[4] pc  KEYS[5] marker
-- KEYS[6] events
-- ARGV[1] key prefix  ARGV[2] "1" to drain delayed jobs too
-- Returns the number of jobs deleted.
local prefix = ARGV[1]
local n = 0
local function wipe(ids)
  for _, id in ipairs(ids) do
    removeJobKeys(prefix .. id)
    n = n + 1
  end
end
wipe(rcall("LRANGE", KEYS[1], 0, -1))
rcall("DEL", KEYS[1])
wipe(rcall("ZRANGE", KEYS[2], 0, -1))
rcall("DEL", KEYS[2], KEYS[4])
if ARGV[2] == "1" then
  wipe(rcall("ZRANGE", KEYS[3], 0, -1))
  rcall("DEL", KEYS[3])
  rcall("DEL", KEYS[5])
else
  rcall("ZREM", KEYS[5], "0")
end
return n
