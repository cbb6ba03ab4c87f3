-- scheduler-advance-10.lua: adds the next iteration of job scheduler <id>
-- when a worker takes iteration <producer>, as BullMQ 6.7's
-- updateJobScheduler-12 does: only if <producer> is the scheduler's
-- current iteration ("repeat:<id>:<score in repeat>"), and only once.
-- KEYS[1] repeat  KEYS[2] delayed  KEYS[3] wait  KEYS[4] meta  KEYS[5] prioritized
-- KEYS[6] marker  KEYS[7] id  KEYS[8] events  KEYS[9] pc  KEYS[10] active
-- ARGV (named in scheduler_scripts.go): 1 key prefix, 2 now (ms), 3 scheduler
-- id, 4 next run (ms; "" for every: computed here), 5 iteration opts JSON,
-- 6 producer job id
-- Returns the new job id; 0 when the scheduler is gone or <producer> is not
-- its current iteration; -1 when the next iteration exists already
-- (event "duplicated").
local K = {repeatKey = KEYS[1], delayed = KEYS[2], wait = KEYS[3], meta = KEYS[4], prio = KEYS[5],
  marker = KEYS[6], id = KEYS[7], events = KEYS[8], pc = KEYS[9], active = KEYS[10]}
local prefix, nowStr, sid = ARGV[1], ARGV[2], ARGV[3]
local now = tonumber(nowStr)
local nextMillis = tonumber(ARGV[4])
local jobOpts = cjson.decode(ARGV[5])

local prevMillis = tonumber(rcall("ZSCORE", K.repeatKey, sid))
if not prevMillis then return 0 end
local schedKey = K.repeatKey .. ":" .. sid
local a = rcall("HMGET", schedKey, "name", "data", "every", "startDate", "offset")
local every = tonumber(a[3])
local rep = type(jobOpts['repeat']) == "table" and jobOpts['repeat'] or nil
if not every and rep and rep['every'] then every = tonumber(rep['every']) end
if every then
  local offset = a[5] or (rep and rep['offset']) or 0
  nextMillis = schedEveryNext(prevMillis, every, now, offset, a[4])
end
if ARGV[6] ~= "repeat:" .. sid .. ":" .. prevMillis then return 0 end

local maxEv = maxEvents(K.meta)
local jobId = "repeat:" .. sid .. ":" .. nextMillis
if rcall("EXISTS", schedKey .. ":" .. nextMillis) == 1 then
  rcall("XADD", K.events, "MAXLEN", "~", maxEv, "*", "event", "duplicated", "jobId", jobId)
  return -1
end
rcall("ZADD", K.repeatKey, nextMillis, sid)
rcall("HINCRBY", schedKey, "ic", 1)
rcall("INCR", K.id)
local delay = nextMillis - now
if delay < 0 then delay = 0 end
schedAddJob(K, prefix, jobId, a[1], a[2] or "{}", jobOpts, nowStr, sid, delay, maxEv)
return jobId
