-- scheduler-upsert-11.lua: creates or replaces job scheduler <id> and its
-- next iteration, as BullMQ 6.7's addJobScheduler-11 does (a pending
-- delayed, prioritized or waiting iteration is replaced).
-- KEYS[1] repeat  KEYS[2] delayed  KEYS[3] wait  KEYS[4] paused  KEYS[5] meta
-- KEYS[6] prioritized  KEYS[7] marker  KEYS[8] id  KEYS[9] events  KEYS[10] pc
-- KEYS[11] active
-- ARGV (named in scheduler_scripts.go): 1 key prefix, 2 now (ms), 3 scheduler
-- id, 4 next run (ms; "" for every: computed here), 5 name, 6 every (ms or
-- ""), 7 pattern, 8 tz, 9 limit, 10 startDate (ms), 11 endDate (ms),
-- 12 offset (ms), 13 template data JSON, 14 template opts JSON, 15 iteration
-- opts JSON ("" = absent for 6-15)
-- Returns {jobId, delay}, or -10 (a cron iteration with that id exists and
-- is not pending) or -11 (32 `every` slots taken).
local K = {repeatKey = KEYS[1], delayed = KEYS[2], wait = KEYS[3], paused = KEYS[4], meta = KEYS[5],
  prio = KEYS[6], marker = KEYS[7], id = KEYS[8], events = KEYS[9], pc = KEYS[10], active = KEYS[11]}
local prefix, nowStr, sid = ARGV[1], ARGV[2], ARGV[3]
local now = tonumber(nowStr)
local function opt(i)
  if ARGV[i] == "" then return nil end
  return ARGV[i]
end
local S = {name = ARGV[5], every = tonumber(opt(6)), pattern = opt(7), tz = opt(8), limit = opt(9),
  startDate = opt(10), endDate = opt(11), offset = tonumber(opt(12))}
local templateData = ARGV[13]
local templateOpts = cjson.decode(ARGV[14])
local jobOpts = cjson.decode(ARGV[15])
local schedKey = K.repeatKey .. ":" .. sid
local maxEv = maxEvents(K.meta)

local prevMillis = tonumber(rcall("ZSCORE", K.repeatKey, sid))
local nextMillis = tonumber(ARGV[4])
local jobOffset = type(jobOpts['repeat']) == "table" and jobOpts['repeat']['offset'] or 0
local offset = S.offset or jobOffset or 0
local newOffset = offset
local every = S.every
local updatedEvery = false
if every then
  local millis = prevMillis
  if prevMillis and tonumber(rcall("HGET", schedKey, "every")) ~= every then
    millis = nil
    updatedEvery = true
  end
  nextMillis, newOffset = schedEveryNext(millis, every, now, offset, S.startDate)
end

-- schedRemovePending deletes the pending iteration jobId if it is delayed,
-- prioritized or waiting.
local function schedRemovePending(jobId)
  local jk = prefix .. jobId
  local removed = false
  if rcall("ZSCORE", K.delayed, jobId) then
    rcall("ZREM", K.delayed, jobId)
    removed = true
  elseif rcall("ZSCORE", K.prio, jobId) then
    rcall("ZREM", K.prio, jobId)
    removed = true
  else
    local list = K.wait
    if rcall("HEXISTS", K.meta, "paused") == 1 then list = K.paused end
    removed = rcall("LREM", list, 1, jobId) > 0
  end
  if removed then
    local deid = rcall("HGET", jk, "deid")
    if deid and rcall("GET", prefix .. "de:" .. deid) == jobId then
      rcall("DEL", prefix .. "de:" .. deid, prefix .. "dn:" .. deid)
    end
    removeJobKeys(jk)
  end
  return removed
end

local removedPrev = false
if prevMillis and rcall("EXISTS", schedKey .. ":" .. prevMillis) == 1 then
  removedPrev = schedRemovePending("repeat:" .. sid .. ":" .. prevMillis)
end
if removedPrev then
  if every and not updatedEvery then nextMillis = prevMillis end
else
  S.offset = newOffset
end

local jobId = "repeat:" .. sid .. ":" .. nextMillis
local collision = false
if rcall("EXISTS", prefix .. jobId) == 1 then
  if every then
    local scanned, taken = 0, 1
    repeat
      nextMillis = nextMillis + every
      jobId = "repeat:" .. sid .. ":" .. nextMillis
      scanned = scanned + 1
      taken = rcall("EXISTS", prefix .. jobId)
    until taken == 0 or scanned >= 32
    if taken == 1 then return -11 end
  else
    collision = true
  end
end
if collision and not removedPrev then return -10 end

local delay = nextMillis - now
if delay < 0 then delay = 0 end

-- store the scheduler: DEL then HMSET, fields in BullMQ's order
rcall("ZADD", K.repeatKey, nextMillis, sid)
local f = {}
local function put(k, v)
  if v then
    f[#f + 1] = k
    f[#f + 1] = v
  end
end
put("tz", S.tz)
put("limit", S.limit)
put("pattern", S.pattern)
put("startDate", S.startDate)
put("endDate", S.endDate)
put("every", S.every)
if S.offset then
  put("offset", S.offset)
else
  put("offset", rcall("HGET", schedKey, "offset"))
end
local tOpts = cjson.encode(templateOpts)
if tOpts ~= "{}" then put("opts", tOpts) end
if templateData ~= "{}" then put("data", templateData) end
put("ic", rcall("HGET", schedKey, "ic") or 1)
rcall("DEL", schedKey)
rcall("HMSET", schedKey, "name", S.name, unpack(f))

rcall("INCR", K.id)
schedAddJob(K, prefix, jobId, S.name, templateData, jobOpts, nowStr, sid, delay, maxEv)
return {jobId, delay}
