-- extend-1.lua: push back the expiry of a lock this owner still holds.
--
-- KEYS[1]  the lock key
-- ARGV[1]  owner: the random id given to acquire-3.lua
-- ARGV[2]  new ttl in milliseconds
--
-- Returns 1 when extended, 0 when the key is gone or holds another value
-- (the lock was lost; nothing is changed). The value is
-- "<owner>:<token>:<holder>"; only the owner part is compared.
local v = redis.call('GET', KEYS[1])
local mine = ARGV[1] .. ':'
if v and string.sub(v, 1, #mine) == mine then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
