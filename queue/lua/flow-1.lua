-- flow-1.lua: adds a flow (BullMQ FlowProducer.add) in one call: parents
-- go to "waiting-children" with ":dependencies" holding their pending
-- children, leaves are added like any job; children carry "parentKey" and
-- "parent". Every queue of the flow shares one prefix hash tag (checked in
-- Go), so the keys built here share KEYS[1]'s slot.
-- KEYS[1] the root queue's meta (routes the call)
-- ARGV (named constants shared with Go, see add-9.lua): argFlowNow now
-- (ms), argFlowCount node count, argFlowNodes first node; each node takes
-- flowNodeSize arguments at offsets: flowBase queue key prefix
-- "<prefix>:<queue>:", flowID job id, flowName, flowData (JSON), flowOpts
-- (JSON), flowDelay (ms), flowPriority, flowLIFO ("1"/"0"), flowParentKey
-- (the parent's job key, "" for a root without a parent), flowParent (the
-- "parent" JSON, "" likewise), flowHasChildren ("1"/"0"). Parents come
-- before their children; the root's parent, if any, exists already (it
-- gains the root as a dependency; its state is left alone, as Node does).
-- A node whose id exists is linked as BullMQ 6.7 links it ("duplicated"
-- event, job left as it is): it becomes a child of its new parent (a
-- completed one counts as processed at once, any other as pending) unless
-- it is the child of another live parent, which keeps it; once all nodes
-- are in, a parent left without pending children leaves waiting-children.
-- Returns the number of nodes, or ERR-CODE:parent when the root's parent
-- is missing or the root exists as another live parent's child (nothing
-- is written then).
local argFlowNow, argFlowCount, argFlowNodes = 1, 2, 3 --@go
local flowBase, flowID, flowName, flowData, flowOpts, flowDelay, flowPriority = 0, 1, 2, 3, 4, 5, 6 --@go
local flowLIFO, flowParentKey, flowParent, flowHasChildren, flowNodeSize = 7, 8, 9, 10, 11 --@go
local nowStr = ARGV[argFlowNow]
local now = tonumber(nowStr)
local n = tonumber(ARGV[argFlowCount])
local rootParent = ARGV[argFlowNodes + flowParentKey]
if rootParent ~= "" then
  if rcall("EXISTS", rootParent) ~= 1 then
    return redis.error_reply("ERR-CODE:parent missing key for parent job " .. rootParent)
  end
  local cur = rcall("HGET", ARGV[argFlowNodes + flowBase] .. ARGV[argFlowNodes + flowID], "parentKey")
  if cur and cur ~= rootParent and rcall("EXISTS", cur) == 1 then
    return redis.error_reply("ERR-CODE:parent the root belongs to another parent " .. cur)
  end
end

-- linkExisting links job jk (id, in the queue of K), which exists, to
-- parentKey ("" = none) as BullMQ's handleDuplicatedJob does in a flow;
-- a refused link marks the parent false in parents (no release check).
local function linkExisting(K, maxEv, base, jk, id, parentKey, parentJSON, parents)
  local cur = rcall("HGET", jk, "parentKey")
  if cur and cur ~= parentKey and rcall("EXISTS", cur) == 1 then
    if parentKey ~= "" then
      parents[parentKey] = false
      return
    end
  elseif parentKey ~= "" then
    if rcall("ZSCORE", base .. "completed", id) then
      rcall("HSET", parentKey .. ":processed", jk, rcall("HGET", jk, "returnvalue"))
    else
      rcall("SADD", parentKey .. ":dependencies", jk)
    end
    rcall("HSET", jk, "parentKey", parentKey, "parent", parentJSON)
  end
  rcall("XADD", K.events, "MAXLEN", "~", maxEv, "*", "event", "duplicated", "jobId", id)
end

-- parents maps each parent key of the flow to its "parent" JSON, order
-- lists them as first met (BullMQ checks them in that order at the end)
local parents, order, linked = {}, {}, false
for i = 0, n - 1 do
  local b = argFlowNodes + i * flowNodeSize
  local base, id, name = ARGV[b + flowBase], ARGV[b + flowID], ARGV[b + flowName]
  local jk = base .. id
  local K = {wait = base .. "wait", active = base .. "active", prio = base .. "prioritized", pc = base .. "pc",
    delayed = base .. "delayed", marker = base .. "marker", meta = base .. "meta", events = base .. "events"}
  local maxEv = maxEvents(K.meta)
  rcall("INCR", base .. "id")
  local parentKey, parentJSON = ARGV[b + flowParentKey], ARGV[b + flowParent]
  if parentKey ~= "" and parents[parentKey] == nil then
    parents[parentKey] = parentJSON
    order[#order + 1] = parentKey
  end
  if rcall("EXISTS", jk) == 1 then
    linked = true
    linkExisting(K, maxEv, base, jk, id, parentKey, parentJSON, parents)
  else
    local extra = {}
    if parentKey ~= "" then extra = {"parentKey", parentKey, "parent", parentJSON} end
    local delayStr, priorityStr = ARGV[b + flowDelay], ARGV[b + flowPriority]
    addJobHash(jk, id, name, ARGV[b + flowData], ARGV[b + flowOpts], nowStr, delayStr, priorityStr, extra, K.events)
    if ARGV[b + flowHasChildren] == "1" then
      rcall("ZADD", base .. "waiting-children", nowStr, id)
      rcall("XADD", K.events, "MAXLEN", "~", maxEv, "*", "event", "waiting-children", "jobId", id)
    elseif tonumber(delayStr) > 0 then
      local due = now + tonumber(delayStr)
      rcall("ZADD", K.delayed, delayedScore(K.delayed, due), id)
      rcall("XADD", K.events, "MAXLEN", "~", maxEv, "*", "event", "delayed", "jobId", id, "delay", due)
      delayMarker(K.marker, K.delayed)
    else
      local isBlocked = blocked(K.meta, K.active)
      local priority = tonumber(priorityStr)
      if priority > 0 then
        rcall("ZADD", K.prio, priorityScore(K.pc, priority), id)
      elseif ARGV[b + flowLIFO] == "1" then
        rcall("RPUSH", K.wait, id)
      else
        rcall("LPUSH", K.wait, id)
      end
      if not isBlocked then rcall("ZADD", K.marker, "0", "0") end
      rcall("XADD", K.events, "MAXLEN", "~", maxEv, "*", "event", "waiting", "jobId", id)
    end
    if parentKey ~= "" then rcall("SADD", parentKey .. ":dependencies", jk) end
  end
end
-- only a linked job can leave a parent without pending children
if linked then
  for _, pk in ipairs(order) do
    if parents[pk] then
      local pq, pid = parentOf(pk, parents[pk])
      parentReleaseIfDone(pq, pid, nowStr)
    end
  end
end
return n
