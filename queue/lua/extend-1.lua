-- extend-1.lua: renews the locks of all jobs one worker holds and removes
-- them from the stalled set (BullMQ extendLocks).
-- KEYS[1] stalled
-- ARGV (named constants shared with Go, see add-9.lua): argExtendPrefix key
-- prefix, argExtendLockMs lock duration (ms), then from argExtendJobs pairs
-- id, token.
-- Returns the tokens whose lock was missing or held by another token (a
-- token names one fetch of one job: the same id may come twice, the old
-- fetch lost and the new one held).
local argExtendPrefix, argExtendLockMs, argExtendJobs = 1, 2, 3 --@go
local prefix = ARGV[argExtendPrefix]
local lost = {}
for i = argExtendJobs, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  local lk = prefix .. id .. ":lock"
  if redis.call("GET", lk) == token then
    redis.call("SET", lk, token, "PX", ARGV[argExtendLockMs])
    redis.call("SREM", KEYS[1], id)
  else
    lost[#lost + 1] = token
  end
end
return lost
