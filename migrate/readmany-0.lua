#!lua flags=no-writes,allow-cross-slot-keys
-- readmany-0.lua: read-1.lua for many keys of one node in one call (Redis
-- 7+; the keys are passed in ARGV, so they may span slots of this node).
--
-- KEYS     none
-- ARGV[1]  mode: "dump", "digest" or "probe" (as read-1.lua)
-- ARGV[2]  big-key bytes (as read-1.lua)
-- ARGV[3]  collection length from which MEMORY USAGE is asked
-- ARGV[4]  byte budget: once the payloads returned reach it, the keys
--          left are not read (the caller asks again for them)
-- ARGV[5..] the keys
--
-- Returns a flat array of 3 entries per key read, in order: type,
-- expiry, payload (as read-1.lua); at least one key is read.
-- canonical is the digest of a set or hash independent of its internal
-- order (a DUMP of a hashtable lists members in bucket order, which
-- differs between two servers holding the same members).
local function canonical(key, t)
  local items = {}
  if t == 'set' then
    items = redis.call('SMEMBERS', key)
  else
    local kv = redis.call('HGETALL', key)
    for i = 1, #kv, 2 do
      items[#items + 1] = #kv[i] .. ':' .. kv[i] .. kv[i + 1]
    end
  end
  table.sort(items)
  local parts = {t}
  for i = 1, #items do
    parts[#parts + 1] = #items[i] .. ':' .. items[i]
  end
  return redis.sha1hex(table.concat(parts, ','))
end

local mode = ARGV[1]
local maxBytes = tonumber(ARGV[2])
local collMin = tonumber(ARGV[3])
local budget = tonumber(ARGV[4])
local total = 0
local lens = {hash = 'HLEN', list = 'LLEN', set = 'SCARD', zset = 'ZCARD', stream = 'XLEN'}
local out = {}
for i = 5, #ARGV do
  local key = ARGV[i]
  local t = redis.call('TYPE', key)['ok']
  if t == 'none' then
    out[#out + 1] = 'none'
    out[#out + 1] = -2
    out[#out + 1] = ''
  else
    local exp = redis.call('PEXPIRETIME', key)
    local payload = ''
    if mode ~= 'probe' then
      local big = false
      if t == 'string' then
        big = redis.call('STRLEN', key) > maxBytes
      elseif lens[t] then
        local n = redis.call(lens[t], key)
        if n >= collMin then
          local okm, mem = pcall(redis.call, 'MEMORY', 'USAGE', key, 'SAMPLES', '5')
          if okm then big = mem > maxBytes else big = n >= 16 * collMin end
        end
      end
      if not big then
        if mode ~= 'digest' then
          payload = redis.call('DUMP', key)
        elseif t == 'set' or t == 'hash' then
          payload = canonical(key, t)
        else
          payload = redis.sha1hex(redis.call('DUMP', key))
        end
      end
    end
    out[#out + 1] = t
    out[#out + 1] = exp
    out[#out + 1] = payload
    total = total + #payload
    if total >= budget then
      break
    end
  end
end
return out
