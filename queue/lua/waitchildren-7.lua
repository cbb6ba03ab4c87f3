-- waitchildren-7.lua: moves an active job its caller holds to
-- waiting-children while it has pending children (BullMQ 6.7's
-- moveToWaitingChildren): its lock is released, it leaves active and
-- stalled, and it moves on when its last child finishes.
-- KEYS[1] active  KEYS[2] waiting-children  KEYS[3] the job's key
-- KEYS[4] its :dependencies  KEYS[5] its :unsuccessful  KEYS[6] stalled
-- KEYS[7] events
-- ARGV (named constants shared with Go, see add-9.lua): argWaitToken lock
-- token ("0" = no lock check), argWaitChild a child's job key ("" = any
-- pending child), argWaitNow now (ms), argWaitID job id.
-- Returns 0 moved, 1 nothing to wait for (the job stays active), -1 job
-- missing, -2 lock missing, -3 not in active, -6 lock held by another
-- token, -9 a child failed under failParentOnFailure.
local argWaitToken, argWaitChild, argWaitNow, argWaitID, argWaitSize = 1, 2, 3, 4, 4 --@go
local token, id = ARGV[argWaitToken], ARGV[argWaitID]
if rcall("EXISTS", KEYS[3]) == 0 then return -1 end
if rcall("ZCARD", KEYS[5]) ~= 0 then return -9 end
local child = ARGV[argWaitChild]
local pending
if child ~= "" then
  pending = rcall("SISMEMBER", KEYS[4], child) ~= 0
else
  pending = rcall("SCARD", KEYS[4]) ~= 0
end
if not pending then return 1 end
if token ~= "0" then
  local cur = rcall("GET", KEYS[3] .. ":lock")
  if cur ~= token then
    if cur then return -6 end
    return -2
  end
  rcall("DEL", KEYS[3] .. ":lock")
  rcall("SREM", KEYS[6], id)
end
if rcall("LREM", KEYS[1], -1, id) < 1 then return -3 end
rcall("ZADD", KEYS[2], ARGV[argWaitNow], id)
rcall("XADD", KEYS[7], "*", "event", "waiting-children", "jobId", id, "prev", "active")
return 0
