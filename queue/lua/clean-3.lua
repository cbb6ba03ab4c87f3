-- clean-3.lua: deletes jobs of one state older than a timestamp.
-- KEYS[1] state key (list or zset)  KEYS[2] events  KEYS[3] meta
-- ARGV[1] key prefix  ARGV[2] state name  ARGV[3] cutoff (ms)  ARGV[4] limit (<= 0 = all)
-- Completed/failed use finishedOn (the zset score), the others the job's
-- timestamp. Releases the dedup ids the deleted jobs hold. Returns the deleted ids; emits "cleaned" with their count.
local prefix, state = ARGV[1], ARGV[2]
local cutoff, limit = tonumber(ARGV[3]), tonumber(ARGV[4])
if limit <= 0 then limit = 2147483647 end
local removed = {}
local ids
if state == "waiting" then
  ids = rcall("LRANGE", KEYS[1], 0, -1)
elseif state == "completed" or state == "failed" then
  ids = rcall("ZRANGEBYSCORE", KEYS[1], "-inf", cutoff, "LIMIT", 0, limit)
else
  ids = rcall("ZRANGE", KEYS[1], 0, -1)
end
for _, id in ipairs(ids) do
  if #removed >= limit then break end
  local jk = prefix .. id
  local ok = true
  if state ~= "completed" and state ~= "failed" then
    local ts = tonumber(rcall("HGET", jk, "timestamp"))
    ok = (ts == nil) or ts <= cutoff
  end
  if ok and rcall("EXISTS", jk .. ":lock") == 0 then
    if state == "waiting" then rcall("LREM", KEYS[1], 0, id) else rcall("ZREM", KEYS[1], id) end
    local deid = rcall("HGET", jk, "deid")
    if deid then dedupForget(prefix, deid, id) end
    removeJobKeys(jk)
    removed[#removed + 1] = id
  end
end
rcall("XADD", KEYS[2], "MAXLEN", "~", maxEvents(KEYS[3]), "*", "event", "cleaned", "count", #removed)
return removed
