-- delay-4.lua: gives a delayed job a new delay from now (BullMQ
-- changeDelay).
-- KEYS[1] delayed  KEYS[2] meta  KEYS[3] marker  KEYS[4] events
-- ARGV (named constants shared with Go, see add-9.lua): argDelayPrefix key
-- prefix, argDelayID job id, argDelayValue delay (ms), argDelayNow now (ms).
-- Returns 0, -1 when the job does not exist, -3 when it is not delayed.
local argDelayPrefix, argDelayID, argDelayValue, argDelayNow, argDelaySize = 1, 2, 3, 4, 4 --@go
local id = ARGV[argDelayID]
local jk = ARGV[argDelayPrefix] .. id
if rcall("EXISTS", jk) == 0 then return -1 end
local delay = tonumber(ARGV[argDelayValue])
local due = tonumber(ARGV[argDelayNow]) + delay
if rcall("ZREM", KEYS[1], id) < 1 then return -3 end
rcall("HSET", jk, "delay", ARGV[argDelayValue])
rcall("ZADD", KEYS[1], delayedScore(KEYS[1], due), id)
rcall("XADD", KEYS[4], "MAXLEN", "~", maxEvents(KEYS[2]), "*", "event", "delayed", "jobId", id, "delay", due)
delayMarker(KEYS[3], KEYS[1])
return 0
