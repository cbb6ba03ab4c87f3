-- progress-3.lua: stores a job's progress and emits "progress".
-- KEYS[1] job key  KEYS[2] events  KEYS[3] meta
-- ARGV[1] job id  ARGV[2] progress (JSON)
-- Returns 0, or error ERR-CODE:missing when the job does not exist.
if rcall("EXISTS", KEYS[1]) == 0 then
  return redis.error_reply("ERR-CODE:missing job " .. ARGV[1])
end
rcall("HSET", KEYS[1], "progress", ARGV[2])
rcall("XADD", KEYS[2], "MAXLEN", "~", maxEvents(KEYS[3]), "*", "event", "progress", "jobId", ARGV[1], "data", ARGV[2])
return 0
