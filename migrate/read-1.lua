-- read-1.lua: one key's type, absolute expiry and DUMP payload, read in
-- one atomic step so that the three always belong together.
--
-- KEYS[1]  the key
-- ARGV[1]  mode: "dump" (type, expiry and payload) or "probe" (type and
--          expiry only)
-- ARGV[2]  big-key bytes: a string longer than this, or a collection
--          whose MEMORY USAGE is larger, is not dumped (copy it in chunks)
-- ARGV[3]  collection length from which MEMORY USAGE is asked; smaller
--          collections are always dumped
--
-- Returns {type, expiry, payload}:
--   type     "none" when the key does not exist, else the TYPE reply
--   expiry   absolute Unix time in ms, -1 when the key has no expiry,
--            -2 when it does not exist (PEXPIRETIME, or PTTL + TIME
--            before Redis 7)
--   payload  the DUMP bytes; "" in probe mode or when the key is big
local key = KEYS[1]
local t = redis.call('TYPE', key)['ok']
if t == 'none' then
  return {'none', -2, ''}
end

local exp
local ok, v = pcall(redis.call, 'PEXPIRETIME', key)
if ok then
  exp = v
else
  exp = redis.call('PTTL', key)
  if exp >= 0 then
    local now = redis.call('TIME')
    exp = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) + exp
  end
end
if ARGV[1] ~= 'dump' then
  return {t, exp, ''}
end

local maxBytes = tonumber(ARGV[2])
local big = false
if t == 'string' then
  big = redis.call('STRLEN', key) > maxBytes
else
  local n = 0
  if t == 'hash' then n = redis.call('HLEN', key)
  elseif t == 'list' then n = redis.call('LLEN', key)
  elseif t == 'set' then n = redis.call('SCARD', key)
  elseif t == 'zset' then n = redis.call('ZCARD', key)
  elseif t == 'stream' then n = redis.call('XLEN', key)
  end
  if n >= tonumber(ARGV[3]) then
    local okm, mem = pcall(redis.call, 'MEMORY', 'USAGE', key, 'SAMPLES', '5')
    if okm then
      big = mem > maxBytes
    else
      big = n >= 16 * tonumber(ARGV[3])
    end
  end
end
if big then
  return {t, exp, ''}
end
return {t, exp, redis.call('DUMP', key)}
