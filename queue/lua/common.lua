-- common.lua: helpers prepended to every queue script (not run alone).
-- Job keys are built as prefix .. id; the prefix ("<prefix>:<name>:") carries
-- the queue's hash tag, so they share the slot of the KEYS.
-- Hot paths write times and counters as the strings they arrived as:
-- passing a Lua number to redis.call formats it with printf (slow).
local rcall = redis.call

-- maxEvents returns meta's opts.maxLenEvents, writing the default 10000
-- (and our version tag) when the meta hash does not have it yet.
local function maxEvents(metaKey)
  local m = rcall("HGET", metaKey, "opts.maxLenEvents")
  if not m then
    m = 10000
    rcall("HSET", metaKey, "opts.maxLenEvents", m)
    rcall("HSETNX", metaKey, "version", "bullmq:6.7.0")
  end
  return m
end

-- blocked reports whether the queue is paused or at its global concurrency.
local function blocked(metaKey, activeKey)
  local m = rcall("HMGET", metaKey, "paused", "concurrency")
  if m[1] then return true end
  if m[2] then return rcall("LLEN", activeKey) >= tonumber(m[2]) end
  return false
end

-- priorityScore is priority * 2^32 + (INCR pc mod 2^32): FIFO inside one priority.
local function priorityScore(pcKey, priority)
  return priority * 4294967296 + rcall("INCR", pcKey) % 4294967296
end

-- delayedScore is due * 4096 + n, n ordering jobs due in the same millisecond.
local function delayedScore(delayedKey, due)
  local lo = due * 4096
  local hi = lo + 4095
  local r = rcall("ZREVRANGEBYSCORE", delayedKey, hi, lo, "WITHSCORES", "LIMIT", 0, 1)
  local top = tonumber(r[2])
  if top then
    if top >= hi then return hi end
    return top + 1
  end
  return lo
end

-- nextDue is the due time (ms) of the earliest delayed job, or nil.
local function nextDue(delayedKey)
  local r = rcall("ZRANGE", delayedKey, 0, 0, "WITHSCORES")
  local s = tonumber(r[2])
  if s then return math.floor(s / 4096) end
  return nil
end

local function delayMarker(markerKey, delayedKey)
  local d = nextDue(delayedKey)
  if d then rcall("ZADD", markerKey, d, "1") end
end

-- enqueue puts id back in wait (push is LPUSH or RPUSH) or prioritized.
local function enqueue(prefix, waitKey, prioKey, pcKey, id, push)
  local p = tonumber(rcall("HGET", prefix .. id, "priority")) or 0
  if p == 0 then
    rcall(push, waitKey, id)
  else
    rcall("ZADD", prioKey, priorityScore(pcKey, p), id)
  end
end

-- promote moves up to 1000 due delayed jobs to wait/prioritized.
local function promote(K, prefix, now, isBlocked)
  local due = rcall("ZRANGEBYSCORE", K.delayed, 0, (now + 1) * 4096 - 1, "LIMIT", 0, 1000)
  if #due == 0 then return end
  rcall("ZREM", K.delayed, unpack(due))
  for _, id in ipairs(due) do
    enqueue(prefix, K.wait, K.prio, K.pc, id, "LPUSH")
    rcall("XADD", K.events, "*", "event", "waiting", "jobId", id, "prev", "delayed")
    rcall("HSET", prefix .. id, "delay", "0")
  end
  if not isBlocked then rcall("ZADD", K.marker, "0", "0") end
end

-- activate locks one job just moved to active, emits "active", stamps
-- processedOn/pb/ats and appends id and its fields as they were before
-- the stamp to out: the worker knows the stamp (its own now, name and
-- ats + 1) and the token (tokenBase .. id), so they are not sent back.
local function activate(K, prefix, nowStr, id, token, lockMs, worker, out)
  local jk = prefix .. id
  rcall("SET", jk .. ":lock", token, "PX", lockMs)
  rcall("XADD", K.events, "*", "event", "active", "jobId", id, "prev", "waiting")
  local f = rcall("HGETALL", jk)
  local ats = "1" -- a string: formatting a Lua number costs a printf
  for i = 1, #f, 2 do
    if f[i] == "ats" then
      ats = tostring((tonumber(f[i + 1]) or 0) + 1)
      break
    end
  end
  if worker ~= "" then
    rcall("HSET", jk, "processedOn", nowStr, "pb", worker, "ats", ats)
  else
    rcall("HSET", jk, "processedOn", nowStr, "ats", ats)
  end
  out[#out + 1] = id
  out[#out + 1] = f
end

-- takeOne moves the next ready job (wait first, then prioritized) to
-- active and returns its id, or nil.
local function takeOne(K)
  local id = rcall("RPOPLPUSH", K.wait, K.active)
  while id and string.sub(id, 1, 2) == "0:" do
    rcall("LREM", K.active, 1, id)
    id = rcall("RPOPLPUSH", K.wait, K.active)
  end
  if id then return id end
  local p = rcall("ZPOPMIN", K.prio)
  if #p == 0 then
    rcall("DEL", K.pc)
    return nil
  end
  rcall("LPUSH", K.active, p[1])
  return p[1]
end

-- takeMany moves up to n ready jobs to active with one pop per source and
-- one push, in the order n RPOPLPUSH/ZPOPMIN calls would take them.
local function takeMany(K, n)
  local ids = {}
  local got = rcall("RPOP", K.wait, n)
  if got then
    for _, id in ipairs(got) do
      if string.sub(id, 1, 2) ~= "0:" then ids[#ids + 1] = id end
    end
  end
  local want = n - #ids
  if want > 0 then
    local p = rcall("ZPOPMIN", K.prio, want)
    for i = 1, #p, 2 do ids[#ids + 1] = p[i] end
    if #p / 2 < want then rcall("DEL", K.pc) end
  end
  if #ids > 0 then rcall("LPUSH", K.active, unpack(ids)) end
  return ids
end

-- fetch moves up to n ready jobs to active and locks them; a job's lock
-- token is tokenBase .. its id (tokenBase is unique per call).
-- Returns {rateLimitTTL, nextDueMillis, id1, fields1, id2, fields2, ...}
-- (fields before activate's stamp).
local function fetch(K, prefix, nowStr, n, tokenBase, lockMs, worker, limMax, limDur)
  local now = tonumber(nowStr)
  local m = rcall("HMGET", K.meta, "paused", "concurrency", "max", "duration")
  local conc = tonumber(m[2])
  local nactive = 0
  local isBlocked = m[1] and true or false
  if not isBlocked and conc then
    nactive = rcall("LLEN", K.active)
    isBlocked = nactive >= conc
  end
  promote(K, prefix, now, isBlocked)
  local out = {0, 0}
  local max = tonumber(m[3]) or limMax
  local dur = limDur or tonumber(m[4]) or 0
  if max then
    local cur = tonumber(rcall("GET", K.limiter) or 0)
    if cur >= max then
      local ttl = rcall("PTTL", K.limiter)
      if ttl > 0 then
        out[1] = ttl
        return out
      end
      rcall("DEL", K.limiter)
    end
  end
  if isBlocked or n <= 0 then return out end
  if conc then n = math.min(n, conc - nactive) end
  local taken = 0
  if max then
    -- rate limited: one at a time, counting each job
    while taken < n do
      local id = takeOne(K)
      if not id then break end
      local limited = false
      if rcall("HEXISTS", prefix .. id, "defa") == 0 then
        local c = rcall("INCR", K.limiter)
        if c == 1 then rcall("PEXPIRE", K.limiter, math.floor(math.abs(dur))) end
        limited = c >= max
      end
      activate(K, prefix, nowStr, id, tokenBase .. id, lockMs, worker, out)
      taken = taken + 1
      if limited then break end
    end
  else
    local ids = takeMany(K, n)
    for _, id in ipairs(ids) do
      activate(K, prefix, nowStr, id, tokenBase .. id, lockMs, worker, out)
    end
    taken = #ids
  end
  if taken == 0 then
    out[2] = nextDue(K.delayed) or 0
  elseif rcall("LLEN", K.wait) > 0 or rcall("ZCARD", K.prio) > 0 then
    -- more is ready: wake another blocked worker (Go or Node)
    rcall("ZADD", K.marker, "0", "0")
  end
  return out
end

-- removeJobKeys deletes a job and its companion keys.
local function removeJobKeys(jk)
  rcall("DEL", jk, jk .. ":logs", jk .. ":lock", jk .. ":dependencies", jk .. ":processed",
    jk .. ":failed", jk .. ":unsuccessful")
end

-- Removal of flow jobs (BullMQ 6.7's removeJob, removeParentDependencyKey,
-- removeJobWithChildren, as observed on the wire).

-- splitJobKey splits a job key at its last ':' into the queue's key
-- prefix (with the ':') and the job id.
local function splitJobKey(jk)
  local id = string.match(jk, ".*:(.*)")
  return string.sub(jk, 1, #jk - #id), id
end

-- parentToWaitOnRemoval puts a parent whose last pending child was removed
-- at the end of its queue's wait (whatever its priority or delay), with
-- the marker unless that queue is paused or maxed; emit adds the
-- "waiting" event (a remove does, a clean does not).
local function parentToWaitOnRemoval(pprefix, pid, emit)
  local isBlocked = blocked(pprefix .. "meta", pprefix .. "active")
  rcall("RPUSH", pprefix .. "wait", pid)
  if not isBlocked then rcall("ZADD", pprefix .. "marker", 0, "0") end
  if emit then
    rcall("XADD", pprefix .. "events", "*", "event", "waiting", "jobId", pid, "prev", "waiting-children")
  end
end

-- dropFromParent removes job key jk from its parent's dependencies
-- (parentKey, or the job's own "parentKey" field when nil). A parent left
-- without pending children leaves waiting-children: with hard (a clean)
-- a parent in the same queue (prefix) is deleted, its own parent updated
-- in turn, and the dedup key named by the child's dedup id in that queue
-- dropped (as BullMQ does); any other parent goes to wait. Returns whether
-- jk was a pending dependency.
local function dropFromParent(jk, hard, parentKey, prefix)
  local deid
  if not parentKey then
    local a = rcall("HMGET", jk, "parentKey", "deid")
    parentKey, deid = a[1], a[2]
    if type(parentKey) ~= "string" or parentKey == "" or rcall("EXISTS", parentKey) == 0 then return false end
  end
  local deps = parentKey .. ":dependencies"
  if rcall("SREM", deps, jk) == 0 then return false end
  if rcall("SCARD", deps) > 0 then return true end
  local pprefix, pid = splitJobKey(parentKey)
  if rcall("ZREM", pprefix .. "waiting-children", pid) == 1 then
    if not hard then
      parentToWaitOnRemoval(pprefix, pid, true)
    elseif pprefix == prefix then
      dropFromParent(parentKey, hard, nil, prefix)
      removeJobKeys(parentKey)
      if deid then rcall("DEL", pprefix .. "de:" .. deid) end
    else
      parentToWaitOnRemoval(pprefix, pid, false)
    end
  end
  return true
end

-- keepJobs applies removeOnComplete/removeOnFail {count, age(s), limit} to
-- set; a removed flow child still pending (failed without a policy)
-- releases its parent as in Node.
local function keepJobs(set, prefix, now, count, age, limit)
  if age and age > 0 then
    local cutoff = now - age * 1000
    local ids = rcall("ZREVRANGEBYSCORE", set, cutoff, "-inf", "LIMIT", 0, limit)
    for _, id in ipairs(ids) do
      dropFromParent(prefix .. id, false, nil, nil)
      removeJobKeys(prefix .. id)
      rcall("ZREM", set, id)
    end
  end
  if count and count > 0 then
    local ids = rcall("ZREVRANGE", set, count, -1)
    for _, id in ipairs(ids) do
      dropFromParent(prefix .. id, false, nil, nil)
      removeJobKeys(prefix .. id)
    end
    if #ids > 0 then rcall("ZREMRANGEBYRANK", set, 0, -(count + 1)) end
  end
end

-- collectMetrics counts n jobs finished at ts in a metrics hash (count,
-- prevTS, prevCount) and its per-minute list "<hash>:data" (newest first,
-- at most maxPoints), as BullMQ's workers do with their metrics option:
-- when the minute changed since prevTS, it pushes the jobs counted since
-- then, and a 0 for each minute without any.
local function collectMetrics(key, maxPoints, ts, n)
  local count = rcall("HINCRBY", key, "count", n) - n
  local prevTS = rcall("HGET", key, "prevTS")
  if not prevTS then
    rcall("HSET", key, "prevTS", ts, "prevCount", 0)
    return
  end
  local gap = math.min(math.floor(ts / 60000) - math.floor(prevTS / 60000), maxPoints)
  if gap <= 0 then return end
  local points = {count - rcall("HGET", key, "prevCount")}
  for i = 2, gap do points[i] = 0 end
  for i = 1, #points, 5000 do
    rcall("LPUSH", key .. ":data", unpack(points, i, math.min(i + 4999, #points)))
  end
  rcall("LTRIM", key .. ":data", 0, maxPoints - 1)
  rcall("HSET", key, "prevCount", count, "prevTS", ts)
end

-- Deduplication (BullMQ opts.de): "<prefix>de:<id>" holds the id of the
-- job that absorbs adds with the same dedup id; "<prefix>dn:<id>" holds
-- the add kept for later (keepLastIfActive) while that job is active.

-- dedupSet points the dedup key at holder: no TTL with keepLastIfActive,
-- else the option's ttl (ms) when there is one.
local function dedupSet(dk, holder, de)
  local ttl = tonumber(de and de.ttl) or 0
  if ttl > 0 and not (de and de.keepLastIfActive) then
    rcall("SET", dk, holder, "PX", ttl)
  else
    rcall("SET", dk, holder)
  end
end

-- dedupRelease frees the dedup key of a job that completed or failed for
-- good: when its TTL ran out, or when it has none and names this job.
local function dedupRelease(prefix, deid, id)
  local dk = prefix .. "de:" .. deid
  local pttl = rcall("PTTL", dk)
  if pttl == 0 or (pttl == -1 and rcall("GET", dk) == id) then
    rcall("DEL", dk)
  end
end

-- dedupForget frees the dedup key (and the kept add) of a job being
-- removed, when the key names this job.
local function dedupForget(prefix, deid, id)
  local dk = prefix .. "de:" .. deid
  if rcall("GET", dk) == id then
    rcall("DEL", dk, prefix .. "dn:" .. deid)
  end
end

-- addJobHash stores a new job hash with the fields Node writes, emits
-- "added", and returns its delay and priority.
local function addJobHash(jk, id, name, data, opts, nowStr, delayStr, priorityStr, extra, eventsKey)
  rcall("HSET", jk, "name", name, "data", data, "opts", opts, "timestamp", nowStr,
    "delay", delayStr, "priority", priorityStr, unpack(extra))
  rcall("XADD", eventsKey, "*", "event", "added", "jobId", id, "name", name)
end

-- dedupRequeue creates the job kept by keepLastIfActive for dedup id deid
-- (after its holder finished), as Node's worker does: a new id from the
-- counter unless one was given, the dedup key pointed at it, then stored
-- and enqueued like any add. K needs wait, active, prio, pc, delayed,
-- marker, meta, events.
local function dedupRequeue(K, prefix, deid, nowStr, maxEv)
  local dn = prefix .. "dn:" .. deid
  if rcall("EXISTS", dn) == 0 then return end
  local d = rcall("HMGET", dn, "name", "data", "opts", "pk", "pd", "pdk", "rjk", "jid")
  local counter = rcall("INCR", prefix .. "id")
  local id = d[8] or tostring(counter)
  local o = cjson.decode(d[3])
  dedupSet(prefix .. "de:" .. deid, id, o.de)
  local extra = {}
  if d[4] then
    extra[#extra + 1] = "parentKey"
    extra[#extra + 1] = d[4]
    extra[#extra + 1] = "parent"
    extra[#extra + 1] = d[5]
  end
  if d[7] then
    extra[#extra + 1] = "rjk"
    extra[#extra + 1] = d[7]
  end
  extra[#extra + 1] = "deid"
  extra[#extra + 1] = deid
  local delay = tonumber(o.delay) or 0
  local priority = tonumber(o.priority) or 0
  addJobHash(prefix .. id, id, d[1], d[2], d[3], nowStr, tostring(delay), tostring(priority), extra, K.events)
  if delay ~= 0 then
    local due = tonumber(nowStr) + delay
    rcall("ZADD", K.delayed, delayedScore(K.delayed, due), id)
    rcall("XADD", K.events, "MAXLEN", "~", maxEv, "*", "event", "delayed", "jobId", id, "delay", due)
    delayMarker(K.marker, K.delayed)
  else
    local isBlocked = blocked(K.meta, K.active)
    if priority > 0 then
      rcall("ZADD", K.prio, priorityScore(K.pc, priority), id)
    elseif o.lifo then
      rcall("RPUSH", K.wait, id)
    else
      rcall("LPUSH", K.wait, id)
    end
    if not isBlocked then rcall("ZADD", K.marker, "0", "0") end
    rcall("XADD", K.events, "MAXLEN", "~", maxEv, "*", "event", "waiting", "jobId", id)
  end
  if d[6] then rcall("SADD", d[6], prefix .. id) end
  rcall("DEL", dn)
end

-- Flows (BullMQ parent/child). A child's hash has "parentKey" (the
-- parent's job key) and "parent" (JSON {id, queueKey, fpof, cpof, idof,
-- rdof}); the parent waits in "<parent queue>:waiting-children" with
-- "<parent key>:dependencies" (child keys pending), ":processed" (child
-- key -> return value), ":failed" (child key -> reason) and
-- ":unsuccessful" (zset of child keys failed under fpof). Parent keys are
-- built from the child's fields: on a cluster the flow must share one
-- hash tag, as for Node.

-- parentToWait moves a parent out of waiting-children: to delayed when it
-- has a delay, else to the head of wait (it runs next) or to prioritized.
local function parentToWait(pq, pid, nowStr)
  local pk = pq .. ":" .. pid
  local a = rcall("HMGET", pk, "priority", "delay")
  local priority = tonumber(a[1]) or 0
  local delay = tonumber(a[2]) or 0
  local events = pq .. ":events"
  if delay > 0 then
    local due = tonumber(nowStr) + delay
    rcall("ZADD", pq .. ":delayed", due * 4096, pid)
    rcall("XADD", events, "*", "event", "delayed", "jobId", pid, "delay", due)
    delayMarker(pq .. ":marker", pq .. ":delayed")
    return
  end
  local isBlocked = blocked(pq .. ":meta", pq .. ":active")
  if priority == 0 then
    rcall("RPUSH", pq .. ":wait", pid)
  else
    rcall("ZADD", pq .. ":prioritized", priorityScore(pq .. ":pc", priority), pid)
  end
  if not isBlocked then rcall("ZADD", pq .. ":marker", "0", "0") end
  rcall("XADD", events, "*", "event", "waiting", "jobId", pid, "prev", "waiting-children")
end

-- parentRelease moves the parent on when it still waits for children.
local function parentRelease(pq, pid, nowStr)
  local pk = pq .. ":" .. pid
  if rcall("EXISTS", pk) == 1 and rcall("ZREM", pq .. ":waiting-children", pid) == 1 then
    parentToWait(pq, pid, nowStr)
  end
end

-- parentReleaseIfDone moves the parent on when no child is pending.
local function parentReleaseIfDone(pq, pid, nowStr)
  if rcall("SCARD", pq .. ":" .. pid .. ":dependencies") == 0 then
    parentRelease(pq, pid, nowStr)
  end
end

-- parentOf returns the parent's queue key and id from a child's fields.
local function parentOf(parentKey, parentJSON)
  if parentJSON ~= "" then
    local p = cjson.decode(parentJSON)
    return p.queueKey, p.id, p
  end
  if parentKey ~= "" then
    local pid = string.match(parentKey, ":([^:]+)$")
    return string.sub(parentKey, 1, #parentKey - #pid - 1), pid, {}
  end
end

-- childCompleted records a completed child's return value in its parent
-- and moves the parent on when it was the last pending child.
local function childCompleted(jk, parentKey, parentJSON, value, nowStr)
  local pq, pid = parentOf(parentKey, parentJSON)
  if not pid then return end
  local pk = pq .. ":" .. pid
  if rcall("SREM", pk .. ":dependencies", jk) == 1 then
    rcall("HSET", pk .. ":processed", jk, value)
    parentReleaseIfDone(pq, pid, nowStr)
  end
end

-- childFailed applies a child's final failure to its parent under the
-- child's policy: fpof fails the parent (deferred failure), cpof records
-- it and moves the parent on at once, idof records it and moves the
-- parent on when nothing is pending, rdof only drops the dependency;
-- without a policy the parent keeps waiting.
local function childFailed(jk, parentJSON, reason, nowStr)
  if parentJSON == "" then return end
  local pq, pid, p = parentOf("", parentJSON)
  local pk = pq .. ":" .. pid
  local deps = pk .. ":dependencies"
  if p.fpof then
    if rcall("SREM", deps, jk) == 1 then
      rcall("ZADD", pk .. ":unsuccessful", nowStr, jk)
      if rcall("EXISTS", pk) == 0 then return end
      local from
      if rcall("ZSCORE", pq .. ":waiting-children", pid) then
        from = pq .. ":waiting-children"
      elseif rcall("ZSCORE", pq .. ":delayed", pid) then
        from = pq .. ":delayed"
        rcall("HSET", pk, "delay", 0)
      end
      if from then
        rcall("ZREM", from, pid)
        rcall("HSET", pk, "defa", "child " .. jk .. " failed")
        parentToWait(pq, pid, nowStr)
      elseif not rcall("ZSCORE", pq .. ":failed", pid) then
        rcall("HSET", pk, "defa", "child " .. jk .. " failed")
      end
    end
  elseif p.cpof then
    if rcall("SREM", deps, jk) == 1 then
      rcall("HSET", pk .. ":failed", jk, reason)
      parentRelease(pq, pid, nowStr)
    end
  elseif p.idof or p.rdof then
    if rcall("SREM", deps, jk) == 1 then
      parentReleaseIfDone(pq, pid, nowStr)
      if p.idof then rcall("HSET", pk .. ":failed", jk, reason) end
    end
  end
end

-- schedulerRun reports whether job id is the pending run of its job
-- scheduler (those are removed with the scheduler, never alone).
local function schedulerRun(prefix, id)
  local sid = rcall("HGET", prefix .. id, "rjk")
  if not sid then return false end
  local next = rcall("ZSCORE", prefix .. "repeat", sid)
  return next ~= false and id == "repeat:" .. sid .. ":" .. next
end

-- removeCleaned deletes a job a clean selected: parent and dedup key
-- updated first (BullMQ's removeJob with hard set).
local function removeCleaned(prefix, id)
  local jk = prefix .. id
  dropFromParent(jk, true, nil, prefix)
  local deid = rcall("HGET", jk, "deid")
  if deid then dedupForget(prefix, deid, id) end
  removeJobKeys(jk)
end
