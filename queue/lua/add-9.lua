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
--   addJobLIFO ("1"/"0"), addJobDedup (opts.de as JSON, "" = none),
--   addJobParentKey the parent's job key of a flow child ("" = none) and
--   addJobParent its "parent" field (JSON {id, queueKey, fpof, ...})
-- Returns a flat array: id1, status1, id2, ... with status 0 added,
-- 1 duplicated (the custom id exists; nothing added), 2 deduplicated (id
-- is the job that absorbed the add; nothing added, or the add kept for
-- when that active job finishes). A child whose parent does not exist
-- fails the whole call before anything is written (ERR-CODE:parent), as
-- does a custom id that exists as another live parent's child.
local argAddPrefix, argAddNow, argAddCount, argAddJobs = 1, 2, 3, 4 --@go
local addJobID, addJobName, addJobData, addJobOpts, addJobDelay, addJobPriority, addJobLIFO, addJobDedup = 0, 1, 2, 3, 4, 5, 6, 7 --@go
local addJobParentKey, addJobParent, addJobSize = 8, 9, 10 --@go
local K = {wait = KEYS[1], meta = KEYS[2], id = KEYS[3], delayed = KEYS[4], prio = KEYS[5],
  pc = KEYS[6], marker = KEYS[7], events = KEYS[8], active = KEYS[9]}
local prefix = ARGV[argAddPrefix]
local nowStr = ARGV[argAddNow]
local now = tonumber(nowStr)
local n = tonumber(ARGV[argAddCount])
local maxEv = maxEvents(K.meta)
local isBlocked = blocked(K.meta, K.active)
-- dedup applies opts.de (BullMQ deduplication: simple, throttle ttl,
-- extend, replace, keepLastIfActive; reschedule is applied by the caller)
-- to an add of job id; it returns the
-- id of the job that absorbs the add, or nil when the job is to be added.
local function dedup(de, id, name, data, opts, parentKey, parentJSON)
  local did = de.id
  local dk = prefix .. "de:" .. did
  local dn = prefix .. "dn:" .. did
  local ttl = tonumber(de.ttl) or 0
  local keepLast = de.keepLastIfActive
  local function event(holder, absorbed)
    rcall("XADD", K.events, "MAXLEN", "~", maxEv, "*", "event", "deduplicated", "jobId", holder,
      "deduplicationId", did, "deduplicatedJobId", absorbed)
  end
  -- a key without TTL whose job is gone (an outage lost it) starts anew
  local function stale(cur)
    if cur and rcall("PTTL", dk) == -1 and rcall("EXISTS", prefix .. cur) == 0 then
      rcall("DEL", dk, dn)
      dedupSet(dk, id, de)
      return true
    end
    return false
  end
  -- keepLastIfActive: while the holder is active, keep this add for later
  local function keepNext(cur)
    if not (keepLast and cur) or not rcall("LPOS", K.active, cur) then return false end
    rcall("DEL", dn)
    rcall("HSET", dn, "name", name, "data", data, "opts", opts, "jid", id)
    if parentKey ~= "" then
      rcall("HSET", dn, "pk", parentKey, "pd", parentJSON, "pdk", parentKey .. ":dependencies")
    end
    rcall("PERSIST", dk)
    event(cur, id)
    return true
  end
  local cur
  if de.replace then
    cur = rcall("GET", dk)
    if not cur then
      dedupSet(dk, id, de)
      return nil
    end
    if rcall("ZREM", K.delayed, cur) > 0 then
      -- debounce: the delayed holder is replaced by this add
      removeJobKeys(prefix .. cur)
      rcall("XADD", K.events, "*", "event", "removed", "jobId", cur, "prev", "delayed")
      event(id, cur)
      rcall("DEL", dn)
      if not keepLast and not de.extend and ttl > 0 then
        rcall("SET", dk, id, "KEEPTTL")
      else
        dedupSet(dk, id, de)
      end
      return nil
    end
    if stale(cur) then return nil end
    keepNext(cur)
    return cur
  end
  if ttl > 0 and de.extend then
    cur = rcall("GET", dk)
    if not cur then
      dedupSet(dk, id, de)
      return nil
    end
    if stale(cur) then return nil end
    if keepNext(cur) then return cur end
    dedupSet(dk, cur, de) -- restarts the TTL
    event(cur, id)
    return cur
  end
  local set
  if ttl > 0 and not keepLast then
    set = rcall("SET", dk, id, "PX", ttl, "NX")
  else
    set = rcall("SET", dk, id, "NX")
  end
  if set then return nil end
  cur = rcall("GET", dk)
  if stale(cur) then return nil end
  if not keepNext(cur) then event(cur, id) end
  return cur
end

-- flow children: every parent must exist, and a custom id that exists
-- may not belong to another live parent (BullMQ's -5 and -7)
for i = 0, n - 1 do
  local b = argAddJobs + i * addJobSize
  local pk = ARGV[b + addJobParentKey]
  if pk ~= "" then
    if rcall("EXISTS", pk) ~= 1 then
      return redis.error_reply("ERR-CODE:parent missing key for parent job " .. pk)
    end
    local cid = ARGV[b + addJobID]
    if cid ~= "" then
      local cur = rcall("HGET", prefix .. cid, "parentKey")
      if cur and cur ~= pk and rcall("EXISTS", cur) == 1 then
        return redis.error_reply("ERR-CODE:parent job " .. cid .. " belongs to another parent " .. cur)
      end
    end
  end
end

-- adoptExisting makes an existing job (a duplicated custom id) a child of
-- parentKey: a completed one counts as processed at once, any other
-- becomes a pending dependency.
local function adoptExisting(jk, id, parentKey, parentJSON)
  local pq, pid = parentOf("", parentJSON)
  if rcall("ZSCORE", prefix .. "completed", id) then
    rcall("HSET", parentKey .. ":processed", jk, rcall("HGET", jk, "returnvalue"))
    parentReleaseIfDone(pq, pid, nowStr)
  else
    rcall("SADD", parentKey .. ":dependencies", jk)
  end
  rcall("HSET", jk, "parentKey", parentKey, "parent", parentJSON)
end

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
  local deJSON = ARGV[b + addJobDedup]
  local parentKey, parentJSON = ARGV[b + addJobParentKey], ARGV[b + addJobParent]
  local de, holder, dup
  if deJSON ~= "" then
    de = cjson.decode(deJSON)
  end
  if cid ~= "" and rcall("EXISTS", jk) == 1 then
    if parentKey ~= "" then adoptExisting(jk, id, parentKey, parentJSON) end
    rcall("XADD", K.events, "MAXLEN", "~", maxEv, "*", "event", "duplicated", "jobId", id)
    out[#out + 1] = id
    out[#out + 1] = 1
    dup = true
  elseif de and de.id then
    holder = dedup(de, id, name, data, opts, parentKey, parentJSON)
    if holder and de.reschedule and not de.replace and rcall("ZSCORE", K.delayed, holder) then
      -- reschedule: the delayed holder takes this add's delay, from now
      rcall("HSET", prefix .. holder, "delay", delay)
      local due = now + math.max(delay, 0)
      rcall("ZADD", K.delayed, delayedScore(K.delayed, due), holder)
      rcall("XADD", K.events, "MAXLEN", "~", maxEv, "*", "event", "delayed", "jobId", holder, "delay", due)
      delayMarker(K.marker, K.delayed)
    end
  end
  if holder then
    out[#out + 1] = holder
    out[#out + 1] = 2
  elseif not dup then
    local extra = {}
    if parentKey ~= "" then extra = {"parentKey", parentKey, "parent", parentJSON} end
    if de and de.id then
      extra[#extra + 1] = "deid"
      extra[#extra + 1] = de.id
    end
    addJobHash(jk, id, name, data, opts, nowStr, delayStr, priorityStr, extra, K.events)
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
    if parentKey ~= "" then rcall("SADD", parentKey .. ":dependencies", jk) end
    out[#out + 1] = id
    out[#out + 1] = 0
  end
end
if ready and not isBlocked then rcall("ZADD", K.marker, "0", "0") end
if delayed then delayMarker(K.marker, K.delayed) end
return out
