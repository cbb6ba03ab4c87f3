-- finish-12.lua: finishes a batch of one worker's jobs and fetches the next
-- ones in the same call (BullMQ moveToFinished / moveToDelayed / retryJob with
-- fetch-next, batched). Every entry needs the worker's lock token.
-- KEYS[1] wait  KEYS[2] active  KEYS[3] prioritized  KEYS[4] events
-- KEYS[5] stalled  KEYS[6] limiter  KEYS[7] delayed  KEYS[8] meta  KEYS[9] pc
-- KEYS[10] marker  KEYS[11] completed  KEYS[12] failed
-- ARGV[1] key prefix  ARGV[2] now (ms)  ARGV[3] entry count
-- ARGV[4] jobs to fetch  ARGV[5] token base  ARGV[6] first token counter
-- ARGV[7] lock duration (ms)  ARGV[8] worker name  ARGV[9] limiter max (0 = none)
-- ARGV[10] limiter duration (ms, 0 = none)
-- then 12 per entry: kind, id, token, value, stacktrace, delay (ms), keep count
--   (-1 = all, 0 = none), keep age (s, 0 = any), keep limit, attempts, lifo,
--   attempts made before this one (atm as the worker read it at fetch)
--   kind: "c" completed (value = returnvalue JSON), "f" failed (value = reason),
--   "d" retry after delay, "w" retry now, "r" return unfinished to wait (shutdown)
-- Returns {{code1, code2, ...}, fetched} with codes 0 ok, -1 job missing,
-- -2 lock missing, -3 not active, -6 lock held by another token, and fetched
-- as take-10.lua returns it.
local K = {wait = KEYS[1], active = KEYS[2], prio = KEYS[3], events = KEYS[4], stalled = KEYS[5],
  limiter = KEYS[6], delayed = KEYS[7], meta = KEYS[8], pc = KEYS[9], marker = KEYS[10],
  completed = KEYS[11], failed = KEYS[12]}
local prefix = ARGV[1]
local now = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local maxEv = maxEvents(K.meta)
rcall("XTRIM", K.events, "MAXLEN", "~", maxEv)
local codes = {}
local finished, delayed, requeued = false, false, false
for i = 0, n - 1 do
  local b = 11 + i * 12
  local kind, id, token, value, stack = ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4]
  local jk = prefix .. id
  local code = 0
  local lk = jk .. ":lock"
  local cur = rcall("GET", lk)
  if cur == token then
    rcall("DEL", lk)
    rcall("SREM", K.stalled, id)
    if rcall("LREM", K.active, -1, id) < 1 then code = -3 end
  elseif cur then
    code = -6
  elseif rcall("EXISTS", jk) == 0 then
    code = -1
    rcall("LREM", K.active, -1, id)
  else
    code = -2
  end
  if code == 0 then
    if kind == "c" then
      local count = tonumber(ARGV[b + 6])
      if count ~= 0 then
        rcall("ZADD", K.completed, now, id)
        rcall("HSET", jk, "returnvalue", value, "finishedOn", now, "atm", tonumber(ARGV[b + 11]) + 1)
        keepJobs(K.completed, prefix, now, count, tonumber(ARGV[b + 7]), tonumber(ARGV[b + 8]))
      else
        removeJobKeys(jk)
      end
      rcall("XADD", K.events, "*", "event", "completed", "jobId", id, "returnvalue", value, "prev", "active")
      finished = true
    elseif kind == "f" then
      local atm = rcall("HINCRBY", jk, "atm", 1)
      rcall("HSET", jk, "failedReason", value, "stacktrace", stack)
      local count = tonumber(ARGV[b + 6])
      if count ~= 0 then
        rcall("ZADD", K.failed, now, id)
        rcall("HSET", jk, "finishedOn", now)
        rcall("HDEL", jk, "defa")
        keepJobs(K.failed, prefix, now, count, tonumber(ARGV[b + 7]), tonumber(ARGV[b + 8]))
      else
        removeJobKeys(jk)
      end
      rcall("XADD", K.events, "*", "event", "failed", "jobId", id, "failedReason", value, "prev", "active")
      if atm >= (tonumber(ARGV[b + 9]) or 0) then
        rcall("XADD", K.events, "*", "event", "retries-exhausted", "jobId", id, "attemptsMade", atm)
      end
      finished = true
    elseif kind == "d" then
      local delay = tonumber(ARGV[b + 5])
      local due = now + delay
      rcall("HSET", jk, "failedReason", value, "stacktrace", stack, "delay", delay)
      rcall("HINCRBY", jk, "atm", 1)
      rcall("ZADD", K.delayed, delayedScore(K.delayed, due), id)
      rcall("XADD", K.events, "MAXLEN", "~", maxEv, "*", "event", "delayed", "jobId", id, "delay", due)
      delayed = true
    elseif kind == "w" then
      rcall("HSET", jk, "failedReason", value, "stacktrace", stack)
      local push = "LPUSH"
      if ARGV[b + 10] == "1" then push = "RPUSH" end
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
  codes[#codes + 1] = code
end
if requeued and not blocked(K.meta, K.active) then rcall("ZADD", K.marker, 0, "0") end
local limMax = tonumber(ARGV[9])
if limMax == 0 then limMax = nil end
local limDur = tonumber(ARGV[10])
if limDur == 0 then limDur = nil end
local fetched = fetch(K, prefix, now, tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6]), ARGV[7], ARGV[8],
  limMax, limDur)
if delayed then delayMarker(K.marker, K.delayed) end
-- "drained" as Node emits it: nothing fetched and wait, active and
-- prioritized empty; when a fetch was asked for, only if it was not held
-- back by a rate limit, a pause, the global concurrency or a delayed job.
if finished and #fetched == 2 and rcall("LLEN", K.wait) == 0 and rcall("LLEN", K.active) == 0
  and rcall("ZCARD", K.prio) == 0 then
  local n = tonumber(ARGV[4])
  if n == 0 or (fetched[1] == 0 and fetched[2] == 0 and not blocked(K.meta, K.active)) then
    rcall("XADD", K.events, "*", "event", "drained")
  end
end
return {codes, fetched}
