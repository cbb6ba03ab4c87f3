-- pause-6.lua: pauses or resumes the queue for every worker (BullMQ pause).
-- KEYS[1] meta  KEYS[2] marker  KEYS[3] events  KEYS[4] wait
-- KEYS[5] prioritized  KEYS[6] delayed
-- ARGV[1] "paused" or "resumed"
-- Returns 0.
if ARGV[1] == "paused" then
  rcall("HSET", KEYS[1], "paused", 1)
  rcall("DEL", KEYS[2])
else
  rcall("HDEL", KEYS[1], "paused")
  if rcall("LLEN", KEYS[4]) + rcall("ZCARD", KEYS[5]) > 0 then
    rcall("ZADD", KEYS[2], 0, "0")
  else
    delayMarker(KEYS[2], KEYS[6])
  end
end
rcall("XADD", KEYS[3], "*", "event", ARGV[1])
return 0
