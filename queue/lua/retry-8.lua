-- retry-8.lua: moves up to N jobs of a zset state (failed or delayed) back
-- to wait (or prioritized), as BullMQ's retryJobs/promoteJobs do.
-- KEYS[1] source zset  KEYS[2] wait  KEYS[3] prioritized  KEYS[4] pc
-- KEYS[5] meta  KEYS[6] marker  KEYS[7] events  KEYS[8] active
-- ARGV[1] key prefix  ARGV[2] max jobs  ARGV[3] source state name  ARGV[4] now (ms)
-- Returns the number of jobs moved.
local prefix = ARGV[1]
local ids = rcall("ZRANGE", KEYS[1], 0, tonumber(ARGV[2]) - 1)
if #ids == 0 then return 0 end
local maxEv = maxEvents(KEYS[5])
for _, id in ipairs(ids) do
  rcall("ZREM", KEYS[1], id)
  local jk = prefix .. id
  if ARGV[3] == "failed" then
    rcall("HDEL", jk, "finishedOn", "processedOn", "failedReason", "returnvalue")
  else
    rcall("HSET", jk, "delay", 0)
  end
  enqueue(prefix, KEYS[2], KEYS[3], KEYS[4], id, "LPUSH")
  rcall("XADD", KEYS[7], "MAXLEN", "~", maxEv, "*", "event", "waiting", "jobId", id, "prev", ARGV[3])
end
if not blocked(KEYS[5], KEYS[8]) then rcall("ZADD", KEYS[6], 0, "0") end
return #ids
