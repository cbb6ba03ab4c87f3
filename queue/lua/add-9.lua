-- add-9.lua: adds a batch of jobs (BullMQ addStandardJob/addPrioritizedJob/
-- addDelayedJob effects, one call for many jobs).
-- KEYS[1] wait  KEYS[2] meta  KEYS[3] id  KEYS[4] delayed  KEYS[5] prioritized
-- KEYS[6] pc  KEYS[7] marker  KEYS[8] events  KEYS[9] active
-- ARGV[1] key prefix "<prefix>:<name>:"  ARGV[2] now (ms)  ARGV[3] job count
-- then 7 per job: custom id ("" = generate), name, data (JSON), opts (JSON),
--   delay (ms), priority, lifo ("1"/"0")
-- Returns a flat array: id1, duplicated1 (0/1), id2, ...
local K = {wait = KEYS[1], meta = KEYS[2], id = KEYS[3], delayed = KEYS[4], prio = KEYS[5],
  pc = KEYS[6], marker = KEYS[7], events = KEYS[8], active = KEYS[9]}
local prefix = ARGV[1]
local now = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local maxEv = maxEvents(K.meta)
local isBlocked = blocked(K.meta, K.active)
local out = {}
local ready = false
local delayed = false
for i = 0, n - 1 do
  local b = 4 + i * 7
  local cid, name, data, opts = ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3]
  local delay, priority = tonumber(ARGV[b + 4]), tonumber(ARGV[b + 5])
  local counter = rcall("INCR", K.id)
  local id = cid
  if id == "" then id = tostring(counter) end
  local jk = prefix .. id
  if cid ~= "" and rcall("EXISTS", jk) == 1 then
    rcall("XADD", K.events, "MAXLEN", "~", maxEv, "*", "event", "duplicated", "jobId", id)
    out[#out + 1] = id
    out[#out + 1] = 1
  else
    rcall("HSET", jk, "name", name, "data", data, "opts", opts, "timestamp", ARGV[2],
      "delay", ARGV[b + 4], "priority", ARGV[b + 5])
    rcall("XADD", K.events, "*", "event", "added", "jobId", id, "name", name)
    if delay > 0 then
      local due = now + delay
      rcall("ZADD", K.delayed, delayedScore(K.delayed, due), id)
      rcall("XADD", K.events, "MAXLEN", "~", maxEv, "*", "event", "delayed", "jobId", id, "delay", due)
      delayed = true
    else
      if priority > 0 then
        rcall("ZADD", K.prio, priorityScore(K.pc, priority), id)
      elseif ARGV[b + 6] == "1" then
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
