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
-- Returns the number of jobs added, or ERR-CODE:exists naming a job id
-- that exists already, ERR-CODE:parent when the root's parent is missing
-- (nothing is written then).
local argFlowNow, argFlowCount, argFlowNodes = 1, 2, 3 --@go
local flowBase, flowID, flowName, flowData, flowOpts, flowDelay, flowPriority = 0, 1, 2, 3, 4, 5, 6 --@go
local flowLIFO, flowParentKey, flowParent, flowHasChildren, flowNodeSize = 7, 8, 9, 10, 11 --@go
local nowStr = ARGV[argFlowNow]
local now = tonumber(nowStr)
local n = tonumber(ARGV[argFlowCount])
local rootParent = ARGV[argFlowNodes + flowParentKey]
if rootParent ~= "" and rcall("EXISTS", rootParent) ~= 1 then
  return redis.error_reply("ERR-CODE:parent missing key for parent job " .. rootParent)
end
for i = 0, n - 1 do
  local b = argFlowNodes + i * flowNodeSize
  if rcall("EXISTS", ARGV[b + flowBase] .. ARGV[b + flowID]) == 1 then
    return redis.error_reply("ERR-CODE:exists job " .. ARGV[b + flowID])
  end
end
for i = 0, n - 1 do
  local b = argFlowNodes + i * flowNodeSize
  local base, id, name = ARGV[b + flowBase], ARGV[b + flowID], ARGV[b + flowName]
  local jk = base .. id
  local K = {wait = base .. "wait", active = base .. "active", prio = base .. "prioritized", pc = base .. "pc",
    delayed = base .. "delayed", marker = base .. "marker", meta = base .. "meta", events = base .. "events"}
  local maxEv = maxEvents(K.meta)
  rcall("INCR", base .. "id")
  local extra = {}
  local parentKey = ARGV[b + flowParentKey]
  if parentKey ~= "" then extra = {"parentKey", parentKey, "parent", ARGV[b + flowParent]} end
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
return n
