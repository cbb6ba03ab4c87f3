-- extend-1.lua: renews the locks of all jobs one worker holds and removes
-- them from the stalled set (BullMQ extendLocks).
-- KEYS[1] stalled
-- ARGV[1] key prefix  ARGV[2] lock duration (ms)  then pairs: id, token
-- Returns the tokens whose lock was missing or held by another token (a
-- token names one fetch of one job: the same id may come twice, the old
-- fetch lost and the new one held).
local prefix = ARGV[1]
local lost = {}
for i = 3, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  local lk = prefix .. id .. ":lock"
  if redis.call("GET", lk) == token then
    redis.call("SET", lk, token, "PX", ARGV[2])
    redis.call("SREM", KEYS[1], id)
  else
    lost[#lost + 1] = token
  end
end
return lost
