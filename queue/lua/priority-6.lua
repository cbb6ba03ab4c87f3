-- priority-6.lua: changes a job's priority (BullMQ changePriority): a
-- waiting or prioritized job is re-queued under the new priority (lifo:
-- ahead of the jobs of that priority); other states only store it.
-- KEYS[1] wait  KEYS[2] meta  KEYS[3] prioritized  KEYS[4] pc
-- KEYS[5] marker  KEYS[6] active
-- ARGV (named constants shared with Go, see add-9.lua): argPrioPrefix key
-- prefix, argPrioID job id, argPrioValue priority (0 = none), argPrioLIFO
-- ("1"/"0").
-- Returns 0, or -1 when the job does not exist.
local argPrioPrefix, argPrioID, argPrioValue, argPrioLIFO, argPrioSize = 1, 2, 3, 4, 4 --@go
local id = ARGV[argPrioID]
local jk = ARGV[argPrioPrefix] .. id
if rcall("EXISTS", jk) == 0 then return -1 end
local priority = tonumber(ARGV[argPrioValue])
local lifo = ARGV[argPrioLIFO] == "1"
if rcall("ZREM", KEYS[3], id) > 0 or rcall("LREM", KEYS[1], -1, id) > 0 then
  local isBlocked = blocked(KEYS[2], KEYS[6])
  if priority == 0 then
    if lifo then rcall("RPUSH", KEYS[1], id) else rcall("LPUSH", KEYS[1], id) end
    if not isBlocked then rcall("ZADD", KEYS[5], "0", "0") end
  elseif lifo then
    rcall("ZADD", KEYS[3], priority * 4294967296, id)
  else
    rcall("ZADD", KEYS[3], priorityScore(KEYS[4], priority), id)
    if not isBlocked then rcall("ZADD", KEYS[5], "0", "0") end
  end
end
rcall("HSET", jk, "priority", priority)
return 0
