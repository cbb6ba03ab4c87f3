-- stalled-8.lua: one stalled-job check per interval across all workers
-- (BullMQ moveStalledJobsToWait). Jobs that were in "stalled" at the last
-- check and have no lock go back to wait (RPUSH, so they run next), with
-- "stc" incremented and event "stalled"; past the max stalled count they get
-- "defa" so the next worker fails them. Then active is copied to stalled.
-- KEYS[1] stalled  KEYS[2] wait  KEYS[3] active  KEYS[4] stalled-check
-- KEYS[5] meta  KEYS[6] marker  KEYS[7] events  KEYS[8] repeat
-- ARGV (named constants shared with Go, see add-9.lua): argStalledMax max
-- stalled count, argStalledPrefix key prefix, argStalledNow now (ms),
-- argStalledInterval check interval (ms).
-- Returns the ids moved back to wait.
local argStalledMax, argStalledPrefix, argStalledNow, argStalledInterval, argStalledSize = 1, 2, 3, 4, 4 --@go
if rcall("EXISTS", KEYS[4]) == 1 then return {} end
rcall("SET", KEYS[4], ARGV[argStalledNow], "PX", ARGV[argStalledInterval])
local maxEv = maxEvents(KEYS[5])
rcall("XTRIM", KEYS[7], "MAXLEN", "~", maxEv)
local prefix = ARGV[argStalledPrefix]
local maxStalled = tonumber(ARGV[argStalledMax])
local moved = {}
local ids = rcall("SMEMBERS", KEYS[1])
if #ids > 0 then
  rcall("DEL", KEYS[1])
  for _, id in ipairs(ids) do
    if string.sub(id, 1, 2) == "0:" then
      rcall("LREM", KEYS[3], 1, id)
    else
      local jk = prefix .. id
      if rcall("EXISTS", jk .. ":lock") == 0 and rcall("LREM", KEYS[3], 1, id) > 0 then
        local stc = rcall("HINCRBY", jk, "stc", 1)
        local sched = rcall("HGET", jk, "rjk")
        local repeating = false
        if sched then
          repeating = rcall("EXISTS", KEYS[8] .. ":" .. sched) == 1 or rcall("ZSCORE", KEYS[8], sched) ~= false
        end
        if stc > maxStalled and not repeating then
          rcall("HSET", jk, "defa", "job stalled more than allowable limit")
        end
        rcall("RPUSH", KEYS[2], id)
        if not blocked(KEYS[5], KEYS[3]) then rcall("ZADD", KEYS[6], 0, "0") end
        rcall("XADD", KEYS[7], "*", "event", "waiting", "jobId", id, "prev", "active")
        rcall("XADD", KEYS[7], "*", "event", "stalled", "jobId", id)
        moved[#moved + 1] = id
      end
    end
  end
end
local active = rcall("LRANGE", KEYS[3], 0, -1)
for i = 1, #active, 5000 do
  rcall("SADD", KEYS[1], unpack(active, i, math.min(i + 4999, #active)))
end
return moved
