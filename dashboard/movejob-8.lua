-- movejob-8.lua: moves one job of a zset state (failed or delayed) back to
-- wait (or prioritized when it has a priority), as BullMQ's Job.retry and
-- Job.promote do: the single-job form of the queue package's retry-8.lua.
-- KEYS[1] source zset ("<p>:<q>:failed" or ":delayed")  KEYS[2] wait
-- KEYS[3] prioritized  KEYS[4] pc  KEYS[5] meta  KEYS[6] marker
-- KEYS[7] events  KEYS[8] active
-- ARGV[1] job key prefix "<p>:<q>:"  ARGV[2] job id
-- ARGV[3] source state name ("failed" or "delayed")
-- Returns 1 (moved), 0 (not in the source state), -1 (in the source
-- state but its hash is gone: the id is dropped from the state).
local rcall = redis.call
local id = ARGV[2]
local jobKey = ARGV[1] .. id
if not rcall("ZSCORE", KEYS[1], id) then return 0 end
rcall("ZREM", KEYS[1], id)
if rcall("EXISTS", jobKey) == 0 then return -1 end
if ARGV[3] == "failed" then
  -- attempts made are kept, as BullMQ does by default
  rcall("HDEL", jobKey, "finishedOn", "processedOn", "failedReason", "returnvalue")
else
  rcall("HSET", jobKey, "delay", "0")
end
local priority = tonumber(rcall("HGET", jobKey, "priority")) or 0
if priority == 0 then
  rcall("LPUSH", KEYS[2], id)
else
  -- score = priority * 2^32 + (INCR pc) mod 2^32: FIFO inside one priority
  rcall("ZADD", KEYS[3], priority * 4294967296 + rcall("INCR", KEYS[4]) % 4294967296, id)
end
local maxEvents = rcall("HGET", KEYS[5], "opts.maxLenEvents") or 10000
rcall("XADD", KEYS[7], "MAXLEN", "~", maxEvents, "*", "event", "waiting", "jobId", id, "prev", ARGV[3])
local m = rcall("HMGET", KEYS[5], "paused", "concurrency")
local blocked = m[1] or (m[2] and rcall("LLEN", KEYS[8]) >= tonumber(m[2]))
if not blocked then rcall("ZADD", KEYS[6], 0, "0") end
return 1
