-- clean-3.lua: deletes up to a limit of one state's jobs older than a
-- timestamp (BullMQ 6.7's cleanJobsInSet, one call).
-- KEYS[1] state key (list or zset)  KEYS[2] events  KEYS[3] repeat (read by schedulerRun)
-- ARGV (named constants shared with Go, see add-9.lua): argCleanPrefix key
-- prefix, argCleanState state ("waiting", "active", "delayed",
-- "prioritized", "completed" or "failed"), argCleanCutoff cutoff (ms),
-- argCleanLimit limit (> 0).
-- Completed/failed jobs are taken by finishedOn (the zset score), delayed
-- ones by processedOn else timestamp, prioritized ones by timestamp,
-- waiting and active ones by finishedOn, processedOn else timestamp; a
-- list is read from its oldest end, limit entries of it. An active job a
-- worker holds (its lock exists) is kept, as is the pending run of a job
-- scheduler.
-- A deleted flow child leaves its parent's dependencies: a parent left
-- without any is deleted too when in this queue, else moved to wait.
-- Releases the dedup ids the deleted jobs hold.
-- Returns the deleted ids; emits "cleaned" with their count.
local argCleanPrefix, argCleanState, argCleanCutoff, argCleanLimit, argCleanSize = 1, 2, 3, 4, 4 --@go
local prefix, state = ARGV[argCleanPrefix], ARGV[argCleanState]
local cutoff, limit = tonumber(ARGV[argCleanCutoff]), tonumber(ARGV[argCleanLimit])
local removed = {}

-- olderThanCutoff reads the first set of the job's time fields.
local function olderThanCutoff(jk, fields)
  for _, v in ipairs(rcall("HMGET", jk, unpack(fields))) do
    if v then return tonumber(v) <= cutoff end
  end
  return true
end

if state == "waiting" or state == "active" then
  local held = state == "active"
  local ids = rcall("LRANGE", KEYS[1], -limit, -1)
  for i, id in ipairs(ids) do
    if #removed >= limit then break end
    local jk = prefix .. id
    if not (held and rcall("EXISTS", jk .. ":lock") == 1) and not schedulerRun(prefix, id)
      and olderThanCutoff(jk, {"finishedOn", "processedOn", "timestamp"}) then
      -- marked now, dropped from the list at the end
      rcall("LSET", KEYS[1], i - #ids - 1, "")
      removeCleaned(prefix, id)
      removed[#removed + 1] = id
    end
  end
  rcall("LREM", KEYS[1], 0, "")
else
  local finished = state == "completed" or state == "failed"
  local top = "+inf"
  if finished then top = cutoff end
  local fields = {"timestamp"}
  if state == "delayed" then fields = {"processedOn", "timestamp"} end
  for _, id in ipairs(rcall("ZRANGEBYSCORE", KEYS[1], 0, top, "LIMIT", 0, limit)) do
    if #removed >= limit then break end
    if finished or (not schedulerRun(prefix, id) and olderThanCutoff(prefix .. id, fields)) then
      removeCleaned(prefix, id)
      removed[#removed + 1] = id
    end
  end
  for i = 1, #removed, 5000 do
    rcall("ZREM", KEYS[1], unpack(removed, i, math.min(i + 4999, #removed)))
  end
end
rcall("XADD", KEYS[2], "*", "event", "cleaned", "count", #removed)
return removed
