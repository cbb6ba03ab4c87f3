-- remove-9.lua: removes one job from any state unless it is locked.
-- KEYS[1] wait  KEYS[2] active  KEYS[3] prioritized  KEYS[4] delayed
-- KEYS[5] completed  KEYS[6] failed  KEYS[7] stalled  KEYS[8] events  KEYS[9] meta
-- ARGV[1] key prefix  ARGV[2] job id
-- Releases the job's dedup id when it holds it; a flow child is dropped
-- from its parent's dependencies, and a parent left without any moves to
-- wait (BullMQ's remove).
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
local f = rcall("HMGET", jk, "deid", "parentKey")
if f[1] then dedupForget(ARGV[1], f[1], id) end
if f[2] and f[2] ~= "" and rcall("EXISTS", f[2]) == 1 then childRemoved(jk, f[2]) end
removeJobKeys(jk)
if existed == 1 then
  rcall("XADD", KEYS[8], "MAXLEN", "~", maxEvents(KEYS[9]), "*", "event", "removed", "jobId", id, "prev", "unknown")
end
return existed
