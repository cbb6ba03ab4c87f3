-- drain-4.lua: deletes the waiting and prioritized jobs (and delayed ones
-- when asked), keeping the pending runs of job schedulers (BullMQ 6.7's
-- drain). A deleted flow child leaves its parent's dependencies (a parent
-- left without any is deleted when in this queue, else moved to wait) and
-- releases the dedup id it holds. As in Node, the priority counter and the
-- marker are left as they are (a worker woken by a stale marker finds
-- nothing and blocks again).
-- KEYS[1] wait  KEYS[2] prioritized  KEYS[3] delayed  KEYS[4] events
-- ARGV (named constants shared with Go, see add-9.lua): argDrainPrefix key
-- prefix, argDrainDelayed "1" to drain delayed jobs too.
-- Returns the number of jobs deleted.
local argDrainPrefix, argDrainDelayed, argDrainSize = 1, 2, 2 --@go
local prefix = ARGV[argDrainPrefix]
local n = 0
-- wipe deletes the jobs of ids but scheduler runs, returns those deleted.
local function wipe(ids)
  local gone = {}
  for _, id in ipairs(ids) do
    if not schedulerRun(prefix, id) then
      removeCleaned(prefix, id)
      gone[#gone + 1] = id
    end
  end
  n = n + #gone
  return gone
end
-- as BullMQ: the list loses as many entries from its head as were deleted
rcall("LTRIM", KEYS[1], #wipe(rcall("LRANGE", KEYS[1], 0, -1)), -1)
local function wipeSet(key)
  local gone = wipe(rcall("ZRANGE", key, 0, -1))
  for i = 1, #gone, 5000 do
    rcall("ZREM", key, unpack(gone, i, math.min(i + 4999, #gone)))
  end
end
wipeSet(KEYS[2])
if ARGV[argDrainDelayed] == "1" then
  wipeSet(KEYS[3])
end
return n
