-- scheduler-common.lua: helpers of the job scheduler scripts, prepended
-- after common.lua (not run alone). They store and enqueue one iteration
-- job the way BullMQ 6.7's storeAndEnqueueJob does, so Node and Go
-- iterations are indistinguishable.

-- schedEveryNext is BullMQ's next run of an `every` scheduler: the first run
-- (prev nil) is startDate or now, or the next slot aligned on offset; later
-- runs are prev+every, jumping to the next aligned slot when behind. Returns
-- nextMillis and the offset (derived from nextMillis when none was set).
local function schedEveryNext(prev, every, now, offset, startDate)
  offset = tonumber(offset)
  local nextMillis
  if not prev then
    if startDate then
      nextMillis = tonumber(startDate)
      if nextMillis <= now then nextMillis = now end
    elseif offset and offset > 0 then
      nextMillis = math.floor(now / every) * every + offset
      if nextMillis <= now then nextMillis = nextMillis + every end
    else
      nextMillis = now
    end
  else
    nextMillis = prev + every
    if nextMillis < now then
      local slot = math.floor(now / every) * every + (offset or 0)
      if slot <= now then
        nextMillis = slot + every
      else
        nextMillis = slot
      end
    end
  end
  if not offset or offset == 0 then
    offset = nextMillis - math.floor(nextMillis / every) * every
  end
  return math.floor(nextMillis), math.floor(offset)
end

-- schedAddJob stores iteration jobId (fields name, data, opts, timestamp,
-- delay, priority, rjk[, deid]) and puts it in delayed, prioritized or wait
-- with BullMQ's events and markers. K holds the queue keys.
local function schedAddJob(K, prefix, jobId, name, data, opts, nowStr, schedulerId, delay, maxEv)
  opts['delay'] = delay
  opts['jobId'] = jobId
  local priority = tonumber(opts['priority']) or 0
  local jk = prefix .. jobId
  local fields = {"name", name, "data", data, "opts", cjson.encode(opts), "timestamp", nowStr,
    "delay", delay, "priority", priority, "rjk", schedulerId}
  local deid = type(opts['de']) == "table" and opts['de']['id']
  if deid then
    fields[#fields + 1] = "deid"
    fields[#fields + 1] = deid
  end
  rcall("HMSET", jk, unpack(fields))
  rcall("XADD", K.events, "*", "event", "added", "jobId", jobId, "name", name)
  if delay ~= 0 then
    local due = tonumber(nowStr) + delay
    rcall("ZADD", K.delayed, delayedScore(K.delayed, due), jobId)
    rcall("XADD", K.events, "MAXLEN", "~", maxEv, "*", "event", "delayed", "jobId", jobId, "delay", due)
    delayMarker(K.marker, K.delayed)
  else
    local isBlocked = blocked(K.meta, K.active)
    if priority > 0 then
      rcall("ZADD", K.prio, priorityScore(K.pc, priority), jobId)
    elseif opts['lifo'] then
      rcall("RPUSH", K.wait, jobId)
    else
      rcall("LPUSH", K.wait, jobId)
    end
    if not isBlocked then rcall("ZADD", K.marker, 0, "0") end
    rcall("XADD", K.events, "MAXLEN", "~", maxEv, "*", "event", "waiting", "jobId", jobId)
  end
end
