-- take-10.lua: moves up to N ready jobs to active for one worker (BullMQ
-- moveToActive, batched): promotes due delayed jobs, honours pause, global
-- concurrency and the rate limiter, locks each job and emits "active".
-- KEYS[1] wait  KEYS[2] active  KEYS[3] prioritized  KEYS[4] events
-- KEYS[5] stalled  KEYS[6] limiter  KEYS[7] delayed  KEYS[8] meta  KEYS[9] pc
-- KEYS[10] marker
-- ARGV (named constants shared with Go, see add-9.lua): argTakePrefix key
-- prefix, argTakeNow now (ms), argTakeMax max jobs, argTakeTokenBase token
-- base (unique per call; a job's token is base .. id), argTakeLockMs lock
-- duration (ms), argTakeWorker worker name, argTakeLimMax limiter max
-- (0 = none), argTakeLimDur limiter duration (ms, 0 = none).
-- Returns {rateLimitTTL, nextDueMillis, id1, fields1, ...} (common.lua's
-- fetch).
local argTakePrefix, argTakeNow, argTakeMax, argTakeTokenBase, argTakeLockMs, argTakeWorker, argTakeLimMax, argTakeLimDur, argTakeSize = 1, 2, 3, 4, 5, 6, 7, 8, 8 --@go
local K = {wait = KEYS[1], active = KEYS[2], prio = KEYS[3], events = KEYS[4], stalled = KEYS[5],
  limiter = KEYS[6], delayed = KEYS[7], meta = KEYS[8], pc = KEYS[9], marker = KEYS[10]}
local limMax = tonumber(ARGV[argTakeLimMax])
if limMax == 0 then limMax = nil end
local limDur = tonumber(ARGV[argTakeLimDur])
if limDur == 0 then limDur = nil end
return fetch(K, ARGV[argTakePrefix], ARGV[argTakeNow], tonumber(ARGV[argTakeMax]), ARGV[argTakeTokenBase],
  ARGV[argTakeLockMs], ARGV[argTakeWorker], limMax, limDur)
