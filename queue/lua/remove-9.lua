-- remove-9.lua: removes one job from any state unless it is locked.
-- KEYS[1] wait  KEYS[2] active  KEYS[3] prioritized  KEYS[4] delayed
-- KEYS[5] completed  KEYS[6] failed  KEYS[7] stalled  KEYS[8] events  KEYS[9] meta
-- ARGV[1] key prefix  ARGV[2] job id
-- Releases the job's dedup id when it holds it.
-- Returns 1 when removed, 0 when there was no such job; error
-- ERR-CODE:locked when a worker holds the job.
local id = ARGV[2]
local jk = ARGV[1] .. id
if rcall("EXISTS", jk .. ":lock") == 1 then
  return redis.error_reply("ERR-CODE:locked job " .. id)
end
rcall("LREM", KEYS[1], 0, id)
rcall("LREM", KEYS[2], 0, id)
for i = 3, 6 do rcall("ZREM", KEYS[i], id) end
rcall("SREM", KEYS[7], id)
local existed = rcall("EXISTS", jk)
local deid = rcall("HGET", jk, "deid")
if deid then dedupForget(ARGV[1], deid, id) end
removeJobKeys(jk)
if existed == 1 then
  rcall("XADD", KEYS[8], "MAXLEN", "~", maxEvents(KEYS[9]), "*", "event", "removed", "jobId", id, "prev", "unknown")
end
return existed
