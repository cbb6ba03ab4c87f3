-- add-9.lua: adds a batch of jobs (BullMQ addStandardJob/addPrioritizedJob/
-- addDelayedJob effects, one call for many jobs).
-- KEYS[1] wait  KEYS[2] meta  KEYS[3] id  KEYS[4] delayed  KEYS[5] prioritized
-- KEYS[6] pc  KEYS[7] marker  KEYS[8] events  KEYS[9] active
-- ARGV (positions are the named constants below, shared with Go: a line
-- ending in "--@go" declares Go constants of the same names and values,
-- checked by TestLuaArgsMatchGo):
--   argAddPrefix key prefix "<prefix>:<name>:"  argAddNow now (ms)
--   argAddCount job count  argAddJobs first job; each job takes addJobSize
--   arguments at offsets: addJobID custom id ("" = generate), addJobName,
--   addJobData (JSON), addJobOpts (JSON), addJobDelay (ms), addJobPriority,
--   addJobLIFO ("1"/"0")
-- Returns a flat array: id1, duplicated1 (0/1), id2, ...
local argAddPrefix, argAddNow, argAddCount, argAddJobs = 1, 2, 3, 4 --@go
local addJobID, addJobName, addJobData, addJobOpts, addJobDelay, addJobPriority, addJobLIFO, addJobSize = 0, 1, 2, 3, 4, 5, 6, 7 --@go
local K = {wait = KEYS[1], meta = KEYS[2], id = KEYS[3], delayed = KEYS[4], prio = KEYS[5],
  pc = KEYS[6], marker = KEYS[7], events = KEYS[8], active = KEYS[9]}
local prefix = ARGV[argAddPrefix]
local nowStr = ARGV[argAddNow]
local now = tonumber(nowStr)
local n = tonumber(ARGV[argAddCount])
local maxEv = maxEvents(K.meta)
local isBlocked = blocked(K.meta, K.active)
local out = {}
local ready = false
local delayed = false
for i = 0, n - 1 do
  local b = argAddJobs + i * addJobSize
  local cid, name, data, opts = ARGV[b + addJobID], ARGV[b + addJobName], ARGV[b + addJobData], ARGV[b + addJobOpts]
  local delayStr, priorityStr = ARGV[b + addJobDelay], ARGV[b + addJobPriority]
  local delay, priority = tonumber(delayStr), tonumber(priorityStr)
  local counter = rcall("INCR", K.id)
  local id = cid
  if id == "" then id = tostring(counter) end
  local jk = prefix .. id
  if cid ~= "" and rcall("EXISTS", jk) == 1 then
    rcall("XADD", K.events, "MAXLEN", "~", maxEv, "*", "event", "duplicated", "jobId", id)
    out[#out + 1] = id
    out[#out + 1] = 1
  else
    rcall("HSET", jk, "name", name, "data", data, "opts", opts, "timestamp", nowStr,
      "delay", delayStr, "priority", priorityStr)
    rcall("XADD", K.events, "*", "event", "added", "jobId", id, "name", name)
    if delay > 0 then
      local due = now + delay
      rcall("ZADD", K.delayed, delayedScore(K.delayed, due), id)
      rcall("XADD", K.events, "MAXLEN", "~", maxEv, "*", "event", "delayed", "jobId", id, "delay", due)
      delayed = true
    else
      if priority > 0 then
        rcall("ZADD", K.prio, priorityScore(K.pc, priority), id)
      elseif ARGV[b + addJobLIFO] == "1" then
        rcall("RPUSH", K.wait, id)
      else
        rcall("LPUSH", K.wait, id)
      end
      rcall("XADD", K.events, "MAXLEN", "~", maxEv, "*", "event", "waiting", "jobId", id)
      ready = true
    end
    out[#out + 1] = id
    out[#out + 1] = 0
  end
end
if ready and not isBlocked then rcall("ZADD", K.marker, "0", "0") end
if delayed then delayMarker(K.marker, K.delayed) end
return out
