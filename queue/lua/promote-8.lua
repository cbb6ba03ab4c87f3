-- promote-8.lua: moves one delayed job to wait (or prioritized) now
-- (BullMQ promote).
-- KEYS[1] delayed  KEYS[2] wait  KEYS[3] meta  KEYS[4] prioritized
-- KEYS[5] active  KEYS[6] pc  KEYS[7] events  KEYS[8] marker
-- ARGV (named constants shared with Go, see add-9.lua): argPromotePrefix
-- key prefix, argPromoteID job id.
-- Returns 0, or -3 when the job is not delayed.
local argPromotePrefix, argPromoteID, argPromoteSize = 1, 2, 2 --@go
local id = ARGV[argPromoteID]
if rcall("ZREM", KEYS[1], id) ~= 1 then return -3 end
local jk = ARGV[argPromotePrefix] .. id
local priority = tonumber(rcall("HGET", jk, "priority")) or 0
local isBlocked = blocked(KEYS[3], KEYS[5])
if priority == 0 then
  rcall("LPUSH", KEYS[2], id)
else
  rcall("ZADD", KEYS[4], priorityScore(KEYS[6], priority), id)
end
if not isBlocked then rcall("ZADD", KEYS[8], "0", "0") end
rcall("XADD", KEYS[7], "*", "event", "waiting", "jobId", id, "prev", "delayed")
rcall("HSET", jk, "delay", 0)
return 0
