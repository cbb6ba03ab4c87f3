-- scheduler-remove-3.lua: removes job scheduler <id>, its pending delayed
-- iteration (event "removed") and its hash, as BullMQ 6.7's
-- removeJobScheduler-3 does.
-- KEYS[1] repeat  KEYS[2] delayed  KEYS[3] events
-- ARGV (named in scheduler_scripts.go): 1 key prefix, 2 scheduler id
-- Returns 0 when removed, 1 when there was no such scheduler.
local prefix, sid = ARGV[1], ARGV[2]
local millis = rcall("ZSCORE", KEYS[1], sid)
if millis then
  local jobId = "repeat:" .. sid .. ":" .. millis
  if rcall("ZREM", KEYS[2], jobId) == 1 then
    removeJobKeys(prefix .. jobId)
    rcall("XADD", KEYS[3], "*", "event", "removed", "jobId", jobId, "prev", "delayed")
  end
end
if rcall("ZREM", KEYS[1], sid) == 1 then
  rcall("DEL", KEYS[1] .. ":" .. sid)
  return 0
end
return 1
