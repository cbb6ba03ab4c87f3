-- take-10.lua: moves up to N ready jobs to active for one worker (BullMQ
-- moveToActive, batched): promotes due delayed jobs, honours pause, global
-- concurrency and the rate limiter, locks each job and emits "active".
-- KEYS[1] wait  KEYS[2] active  KEYS[3] prioritized  KEYS[4] events
-- KEYS[5] stalled  KEYS[6] limiter  KEYS[7] delayed  KEYS[8] meta  KEYS[9] pc
-- KEYS[10] marker
-- ARGV[1] key prefix  ARGV[2] now (ms)  ARGV[3] max jobs  ARGV[4] token base
-- (unique per call; a job's token is base .. id)  ARGV[5] unused
-- ARGV[6] lock duration (ms)  ARGV[7] worker name
-- ARGV[8] limiter max (0 = none)  ARGV[9] limiter duration (ms, 0 = none)
-- Returns {rateLimitTTL, nextDueMillis, id1, token1, fields1, ...}.
local K = {wait = KEYS[1], active = KEYS[2], prio = KEYS[3], events = KEYS[4], stalled = KEYS[5],
  limiter = KEYS[6], delayed = KEYS[7], meta = KEYS[8], pc = KEYS[9], marker = KEYS[10]}
local limMax = tonumber(ARGV[8])
if limMax == 0 then limMax = nil end
local limDur = tonumber(ARGV[9])
if limDur == 0 then limDur = nil end
return fetch(K, ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[6], ARGV[7], limMax, limDur)
