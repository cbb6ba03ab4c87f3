-- acquire-3.lua: take a lock and draw its fencing token.
--
-- KEYS[1]  the lock key (holds "<owner>:<token>:<holder>")
-- KEYS[2]  the fence counter of the lock (same hash tag, never expires)
-- KEYS[3]  the "someone waits" marker read by release-3.lua
-- ARGV[1]  owner: a random id of this acquisition (no ':')
-- ARGV[2]  ttl in milliseconds
-- ARGV[3]  holder description (free text, may contain ':')
-- ARGV[4]  when the lock is taken and this is positive: set the marker
--          for that many ms (a caller about to wait), so the release
--          publishes; an uncontended release then publishes nothing
--
-- Returns {1, token} when the lock is now held by owner. The script is
-- idempotent: when the lock already carries owner (a retransmitted call), it
-- returns the token drawn the first time instead of drawing another.
-- Returns {0, value, pttl} when another owner holds it (value may be a
-- foreign one, e.g. node-redlock's), and {0, 0, pttl, type} when the key
-- is not a string at all: a foreign key, held until it expires or goes.
local v = redis.pcall('GET', KEYS[1])
if type(v) == 'table' and v.err then
  return {0, 0, redis.call('PTTL', KEYS[1]), redis.call('TYPE', KEYS[1]).ok}
end
if v then
  local mine = ARGV[1] .. ':'
  if string.sub(v, 1, #mine) == mine then
    local token = string.match(string.sub(v, #mine + 1), '^(%d+)')
    return {1, tonumber(token)}
  end
  local mark = tonumber(ARGV[4])
  if mark > 0 then
    redis.call('SET', KEYS[3], '1', 'PX', mark)
  end
  return {0, v, redis.call('PTTL', KEYS[1])}
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. token .. ':' .. ARGV[3], 'PX', ARGV[2])
return {1, token}
