-- finish-12.lua: finishes a batch of one worker's jobs and fetches the next
-- ones in the same call (BullMQ moveToFinished / moveToDelayed / retryJob with
-- fetch-next, batched). Every entry needs the worker's lock token.
-- KEYS[1] wait  KEYS[2] active  KEYS[3] prioritized  KEYS[4] events
-- KEYS[5] stalled  KEYS[6] limiter  KEYS[7] delayed  KEYS[8] meta  KEYS[9] pc
-- KEYS[10] marker  KEYS[11] completed  KEYS[12] failed
-- ARGV (named constants shared with Go, see add-9.lua):
--   argFinPrefix key prefix, argFinNow now (ms), argFinCount entry count,
--   argFinFetch jobs to fetch, argFinTokenBase token base (unique per call),
--   argFinLockMs lock duration (ms), argFinWorker worker name, argFinLimMax
--   limiter max (0 = none), argFinLimDur limiter duration (ms, 0 = none),
--   argFinMetrics metrics data points to keep (0 = no metrics),
--   argFinRemovals number of removal settings R, then R settings of
--   finKeepSize: finKeepCount keep count (-1 = all, 0 = none), finKeepAge
--   keep age (s, 0 = any), finKeepLimit keep limit;
--   then the entries, each at offsets: finKind kind, finID id, finToken
--   token, finValue value, finDedup the job's dedup id ("deid", "" = none),
--   finParentKey and finParent the job's "parentKey" and "parent" fields
--   ("" = none);
--   "c" completed (finDoneSize): finDoneATM atm to store, finDoneRemoval
--     removal index (1-based);
--   others (finFailSize): finFailStack stacktrace, finFailDelay delay (ms),
--     finFailRemoval removal index, finFailAttempts attempts, finFailLIFO
--     lifo, finFailATM atm to store;
--   kind: "f" failed (value = reason), "d" retry after delay, "w" retry now,
--   "r" return unfinished to wait (shutdown)
-- Returns {{code1, code2, ...}, fetched} with codes 0 ok, -1 job missing,
-- -2 lock missing, -3 not active, -4 a completion of a parent with pending
-- children, -9 with children failed under fpof (the job keeps its lock and
-- stays active: the worker fails it), -6 lock held by another token, and fetched
-- as take-10.lua returns it.
local argFinPrefix, argFinNow, argFinCount, argFinFetch, argFinTokenBase, argFinLockMs = 1, 2, 3, 4, 5, 6 --@go
local argFinWorker, argFinLimMax, argFinLimDur, argFinMetrics, argFinRemovals = 7, 8, 9, 10, 11 --@go
local finKeepCount, finKeepAge, finKeepLimit, finKeepSize = 0, 1, 2, 3 --@go
local finKind, finID, finToken, finValue, finDedup, finParentKey, finParent = 0, 1, 2, 3, 4, 5, 6 --@go
local finDoneATM, finDoneRemoval, finDoneSize = 7, 8, 9 --@go
local finFailStack, finFailDelay, finFailRemoval, finFailAttempts, finFailLIFO, finFailATM, finFailSize = 7, 8, 9, 10, 11, 12, 13 --@go
local K = {wait = KEYS[1], active = KEYS[2], prio = KEYS[3], events = KEYS[4], stalled = KEYS[5],
  limiter = KEYS[6], delayed = KEYS[7], meta = KEYS[8], pc = KEYS[9], marker = KEYS[10],
  completed = KEYS[11], failed = KEYS[12]}
local prefix = ARGV[argFinPrefix]
local nowStr = ARGV[argFinNow]
local now = tonumber(nowStr)
local n = tonumber(ARGV[argFinCount])
local maxEv = maxEvents(K.meta)
rcall("XTRIM", K.events, "MAXLEN", "~", maxEv)
local codes = {}
local finished, delayed, requeued = false, false, false
local removals = {}
local at = argFinRemovals + 1
for r = 1, tonumber(ARGV[argFinRemovals]) do
  local c, a, l = ARGV[at + finKeepCount], ARGV[at + finKeepAge], ARGV[at + finKeepLimit]
  removals[r] = {tonumber(c), tonumber(a), tonumber(l), key = "|" .. c .. "|" .. a .. "|" .. l}
  at = at + finKeepSize
end
-- entries are read from ARGV where they stand (offs[i] is entry i's first
-- argument): no table per job
local offs, kinds, ids = {}, {}, {}
for i = 1, n do
  local kind = ARGV[at + finKind]
  offs[i], kinds[i], ids[i] = at, kind, ARGV[at + finID]
  if kind == "c" then at = at + finDoneSize else at = at + finFailSize end
end
-- one MGET for every lock, one DEL and one SREM for those we hold
local lockKeys = {}
for i = 1, n do
  lockKeys[i] = prefix .. ids[i] .. ":lock"
end
local held, heldIds = {}, {}
-- completing a parent needs its children done: one EXISTS for the batch
-- (empty sets do not exist), then per job only when some exist
local parentKeys = {}
for i = 1, n do
  if kinds[i] == "c" then
    local jk = prefix .. ids[i]
    parentKeys[#parentKeys + 1] = jk .. ":dependencies"
    parentKeys[#parentKeys + 1] = jk .. ":unsuccessful"
  end
end
local parents = #parentKeys > 0 and rcall("EXISTS", unpack(parentKeys)) > 0
if n > 0 then
  local cur = rcall("MGET", unpack(lockKeys))
  for i = 1, n do
    local id, c, token = ids[i], cur[i], ARGV[offs[i] + finToken]
    local jk = prefix .. id
    if parents and c == token and kinds[i] == "c" then
      if rcall("SCARD", jk .. ":dependencies") ~= 0 then
        codes[i] = -4
      elseif rcall("ZCARD", jk .. ":unsuccessful") ~= 0 then
        codes[i] = -9
      end
    end
    if codes[i] then
      -- refused: the job stays active and locked
    elseif c == token then
      codes[i] = 0
      held[#held + 1] = lockKeys[i]
      heldIds[#heldIds + 1] = id
    elseif c then
      codes[i] = -6
    elseif rcall("EXISTS", jk) == 0 then
      codes[i] = -1
      rcall("LREM", K.active, -1, id)
    else
      codes[i] = -2
    end
  end
  if #held > 0 then
    rcall("DEL", unpack(held))
    rcall("SREM", K.stalled, unpack(heldIds))
  end
end
local completedArgs = {}
local keeps = {} -- distinct removeOn* settings, applied once per batch
-- keep notes a removal setting to apply to set once, after the batch
-- (keyed by the setting's index: no number formatting per job).
local function keep(set, r)
  local count, age = r[1], r[2]
  if count == -1 and (age == 0 or age == nil) then return end
  local key = set .. r.key
  if not keeps[key] then
    keeps[key] = true
    keeps[#keeps + 1] = {set, count, age, r[3]}
  end
end
for i = 1, n do
  local o, kind, id = offs[i], kinds[i], ids[i]
  local jk = prefix .. id
  if codes[i] == 0 and rcall("LREM", K.active, -1, id) < 1 then codes[i] = -3 end
  if codes[i] == 0 then
    local value, deid, parentKey, parent = ARGV[o + finValue], ARGV[o + finDedup], ARGV[o + finParentKey], ARGV[o + finParent]
    if deid ~= "" and (kind == "c" or kind == "f") then
      dedupRelease(prefix, deid, id)
      dedupRequeue(K, prefix, deid, nowStr, maxEv)
    end
    if kind == "c" and (parentKey ~= "" or parent ~= "") then
      childCompleted(jk, parentKey, parent, value, nowStr)
    elseif kind == "f" and parent ~= "" then
      childFailed(jk, parent, value, nowStr)
    end
    local removal, stack
    if kind == "c" then
      removal = removals[tonumber(ARGV[o + finDoneRemoval])]
    else
      removal, stack = removals[tonumber(ARGV[o + finFailRemoval])], ARGV[o + finFailStack]
    end
    local count = removal[1]
    if kind == "c" then
      if count ~= 0 then
        completedArgs[#completedArgs + 1] = nowStr
        completedArgs[#completedArgs + 1] = id
        rcall("HSET", jk, "returnvalue", value, "finishedOn", nowStr, "atm", ARGV[o + finDoneATM])
        keep(K.completed, removal)
      else
        removeJobKeys(jk)
      end
      rcall("XADD", K.events, "*", "event", "completed", "jobId", id, "returnvalue", value, "prev", "active")
      finished = true
    elseif kind == "f" then
      local atm = rcall("HINCRBY", jk, "atm", 1)
      rcall("HSET", jk, "failedReason", value, "stacktrace", stack)
      if count ~= 0 then
        rcall("ZADD", K.failed, now, id)
        rcall("HSET", jk, "finishedOn", now)
        rcall("HDEL", jk, "defa")
        keep(K.failed, removal)
      else
        removeJobKeys(jk)
        -- a child failed without a policy is still a pending dependency
        if parentKey ~= "" then dropFromParent(jk, false, parentKey, nil) end
      end
      rcall("XADD", K.events, "*", "event", "failed", "jobId", id, "failedReason", value, "prev", "active")
      if atm >= (tonumber(ARGV[o + finFailAttempts]) or 0) then
        rcall("XADD", K.events, "*", "event", "retries-exhausted", "jobId", id, "attemptsMade", atm)
      end
      finished = true
    elseif kind == "d" then
      local delay = tonumber(ARGV[o + finFailDelay])
      local due = now + delay
      rcall("HSET", jk, "failedReason", value, "stacktrace", stack, "delay", delay)
      rcall("HINCRBY", jk, "atm", 1)
      rcall("ZADD", K.delayed, delayedScore(K.delayed, due), id)
      rcall("XADD", K.events, "MAXLEN", "~", maxEv, "*", "event", "delayed", "jobId", id, "delay", due)
      delayed = true
    elseif kind == "w" then
      rcall("HSET", jk, "failedReason", value, "stacktrace", stack)
      local push = "LPUSH"
      if ARGV[o + finFailLIFO] == "1" then push = "RPUSH" end
      enqueue(prefix, K.wait, K.prio, K.pc, id, push)
      rcall("HINCRBY", jk, "atm", 1)
      rcall("XADD", K.events, "MAXLEN", "~", maxEv, "*", "event", "waiting", "jobId", id, "prev", "active")
      requeued = true
    elseif kind == "r" then
      local p = tonumber(rcall("HGET", jk, "priority")) or 0
      if p == 0 then
        rcall("RPUSH", K.wait, id)
      else
        rcall("ZADD", K.prio, p * 4294967296, id)
      end
      rcall("XADD", K.events, "MAXLEN", "~", maxEv, "*", "event", "waiting", "jobId", id, "prev", "active")
      requeued = true
    end
  end
end
if #completedArgs > 0 then rcall("ZADD", K.completed, unpack(completedArgs)) end
local metricsPoints = tonumber(ARGV[argFinMetrics]) or 0
if metricsPoints > 0 then
  local nc, nf = 0, 0
  for i = 1, n do
    if codes[i] == 0 and kinds[i] == "c" then nc = nc + 1 end
    if codes[i] == 0 and kinds[i] == "f" then nf = nf + 1 end
  end
  if nc > 0 then collectMetrics(prefix .. "metrics:completed", metricsPoints, now, nc) end
  if nf > 0 then collectMetrics(prefix .. "metrics:failed", metricsPoints, now, nf) end
end
for _, k in ipairs(keeps) do
  keepJobs(k[1], prefix, now, k[2], k[3], k[4])
end
if requeued and not blocked(K.meta, K.active) then rcall("ZADD", K.marker, "0", "0") end
local limMax = tonumber(ARGV[argFinLimMax])
if limMax == 0 then limMax = nil end
local limDur = tonumber(ARGV[argFinLimDur])
if limDur == 0 then limDur = nil end
local fetched = fetch(K, prefix, nowStr, tonumber(ARGV[argFinFetch]), ARGV[argFinTokenBase], ARGV[argFinLockMs],
  ARGV[argFinWorker], limMax, limDur)
if delayed then delayMarker(K.marker, K.delayed) end
-- "drained" as Node emits it: nothing fetched and wait, active and
-- prioritized empty; when a fetch was asked for, only if it was not held
-- back by a rate limit, a pause, the global concurrency or a delayed job.
if finished and #fetched == 2 and rcall("LLEN", K.wait) == 0 and rcall("LLEN", K.active) == 0
  and rcall("ZCARD", K.prio) == 0 then
  local n = tonumber(ARGV[argFinFetch])
  if n == 0 or (fetched[1] == 0 and fetched[2] == 0 and not blocked(K.meta, K.active)) then
    rcall("XADD", K.events, "*", "event", "drained")
  end
end
return {codes, fetched}
