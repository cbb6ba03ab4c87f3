-- update-1.lua: replaces a job's data (BullMQ updateData).
-- KEYS[1] job hash
-- ARGV (named constants shared with Go, see add-9.lua): argUpdateData the
-- new data (JSON).
-- Returns 0, or -1 when the job does not exist.
local argUpdateData, argUpdateSize = 1, 1 --@go
if rcall("EXISTS", KEYS[1]) == 0 then return -1 end
rcall("HSET", KEYS[1], "data", ARGV[argUpdateData])
return 0
