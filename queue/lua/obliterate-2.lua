-- obliterate-2.lua: deletes up to N keys of the queue per call (its jobs and
-- then its own keys). Call until it returns 0.
-- KEYS[1] meta  KEYS[2] active
-- ARGV[1] key prefix  ARGV[2] "1" to force while jobs are active  ARGV[3] batch size
-- Returns the number of keys deleted in this call; error ERR-CODE:active
-- when jobs are active and not forced.
local prefix = ARGV[1]
local batch = tonumber(ARGV[3])
if ARGV[2] ~= "1" and rcall("LLEN", KEYS[2]) > 0 then
  return redis.error_reply("ERR-CODE:active jobs are active")
end
local n = 0
local function wipeIds(ids)
  for _, id in ipairs(ids) do
    removeJobKeys(prefix .. id)
    n = n + 1
  end
end
for _, s in ipairs({"active", "wait", "paused"}) do
  local key = prefix .. s
  local ids = rcall("LRANGE", key, 0, batch - 1)
  wipeIds(ids)
  if #ids > 0 then rcall("LTRIM", key, #ids, -1) end
  if n >= batch then return n end
end
for _, s in ipairs({"prioritized", "delayed", "completed", "failed"}) do
  local key = prefix .. s
  local ids = rcall("ZRANGE", key, 0, batch - 1)
  wipeIds(ids)
  if #ids > 0 then rcall("ZREM", key, unpack(ids)) end
  if n >= batch then return n end
end
local own = {"meta", "events", "marker", "id", "pc", "stalled", "stalled-check", "limiter",
  "metrics:completed", "metrics:completed:data", "metrics:failed", "metrics:failed:data",
  "wait", "active", "paused", "prioritized", "delayed", "completed", "failed"}
for _, s in ipairs(own) do
  n = n + rcall("DEL", prefix .. s)
end
return n
