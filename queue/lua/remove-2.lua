-- remove-2.lua: removes one job from whatever state it is in, and by
-- default its children, as BullMQ 6.7's Queue.remove / Job.remove do.
-- KEYS[1] the job's key  KEYS[2] the queue's repeat zset
-- ARGV (named constants shared with Go, see add-9.lua): argRmPrefix key
-- prefix, argRmID job id, argRmChildren "1" to remove the job's children
-- (pending, completed and failed, any depth) too, argRmPending "1" to
-- remove only the job's pending children instead (BullMQ 6.7's
-- removeUnprocessedChildren: the job stays; a child a worker holds or one
-- in failed is skipped, the others go with their own pending children,
-- and a job in waiting-children left without pending children moves to
-- wait).
-- Refuses (nothing removed) a job a worker holds, or with children one
-- whose pending descendants a worker holds: error ERR-CODE:locked; and the
-- pending run of a job scheduler: error ERR-CODE:scheduler.
-- The job leaves its parent's dependencies; a parent left without any
-- goes to wait. Releases the dedup ids the removed jobs hold. Emits
-- "removed" (prev: the state it was in) per removed job.
-- Returns 1.
local argRmPrefix, argRmID, argRmChildren, argRmPending, argRmSize = 1, 2, 3, 4, 4 --@go
local prefix, id = ARGV[argRmPrefix], ARGV[argRmID]
local pendingOnly = ARGV[argRmPending] == "1"
local withChildren = pendingOnly or ARGV[argRmChildren] == "1"

if not pendingOnly and schedulerRun(prefix, id) then
  return redis.error_reply("ERR-CODE:scheduler job " .. id .. " is the next run of a job scheduler")
end

-- locked reports a held lock on the job or, with children, on a pending
-- descendant.
local function locked(p, jid)
  local jk = p .. jid
  if rcall("EXISTS", jk .. ":lock") == 1 then return true end
  if not withChildren then return false end
  for _, ck in ipairs(rcall("SMEMBERS", jk .. ":dependencies")) do
    local cp, cid = splitJobKey(ck)
    if locked(cp, cid) then return true end
  end
  return false
end

-- leaveState removes a job from the first state it is found in and
-- returns that state's name.
local function leaveState(p, jid)
  for _, z in ipairs({"completed", "waiting-children", "delayed", "failed", "prioritized"}) do
    if rcall("ZREM", p .. z, jid) == 1 then return z end
  end
  for _, l in ipairs({"wait", "paused", "active"}) do
    if rcall("LREM", p .. l, 1, jid) == 1 then return l end
  end
  return "unknown"
end

local removeTree
-- removeChildren removes every child a parent knows: completed
-- (:processed), failed (:failed, :unsuccessful) and pending; only the
-- pending ones with pendingOnly.
local function removeChildren(jk)
  local function each(keys, step)
    for i = 1, #keys, step do
      local cp, cid = splitJobKey(keys[i])
      removeTree(cp, cid, jk)
    end
  end
  if not pendingOnly then
    each(rcall("HGETALL", jk .. ":processed"), 2)
    each(rcall("HGETALL", jk .. ":failed"), 2)
    each(rcall("ZRANGE", jk .. ":unsuccessful", 0, -1), 1)
  end
  each(rcall("SMEMBERS", jk .. ":dependencies"), 1)
end

-- removeTree removes one job (and its children when asked); parentKey is
-- the parent removing it, nil for the job Remove names.
removeTree = function(p, jid, parentKey)
  local jk = p .. jid
  if pendingOnly and (rcall("EXISTS", jk .. ":lock") == 1 or rcall("ZSCORE", p .. "failed", jid)) then
    return
  end
  dropFromParent(jk, false, parentKey, nil)
  if withChildren then removeChildren(jk) end
  local prev = leaveState(p, jid)
  local deid = rcall("HGET", jk, "deid")
  if deid then dedupForget(p, deid, jid) end
  if rcall("DEL", jk, jk .. ":logs", jk .. ":dependencies", jk .. ":processed", jk .. ":failed",
    jk .. ":unsuccessful") > 0 then
    rcall("XADD", p .. "events", "MAXLEN", "~", maxEvents(p .. "meta"), "*", "event", "removed",
      "jobId", jid, "prev", prev)
  end
end

if pendingOnly then
  removeChildren(prefix .. id)
  return 1
end
if locked(prefix, id) then
  return redis.error_reply("ERR-CODE:locked job " .. id)
end
removeTree(prefix, id, nil)
return 1
