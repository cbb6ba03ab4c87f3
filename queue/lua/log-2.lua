-- log-2.lua: appends a line to a job's log, keeping the newest keepLogs
-- lines (BullMQ addLog: opts.kl).
-- KEYS[1] job hash  KEYS[2] job logs list
-- ARGV (named constants shared with Go, see add-9.lua): argLogLine the
-- line, argLogKeep lines to keep ("" or 0 = all).
-- Returns the number of lines kept, or -1 when the job does not exist.
local argLogLine, argLogKeep, argLogSize = 1, 2, 2 --@go
if rcall("EXISTS", KEYS[1]) == 0 then return -1 end
local n = rcall("RPUSH", KEYS[2], ARGV[argLogLine])
local keep = tonumber(ARGV[argLogKeep]) or 0
if keep > 0 then
  rcall("LTRIM", KEYS[2], -keep, -1)
  return math.min(keep, n)
end
return n
