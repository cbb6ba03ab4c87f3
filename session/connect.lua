-- connect.lua: shared by the connect-*.lua scripts, which get it prepended.
-- It reads and edits the top level of an express-session object as text,
-- so every value it does not change keeps its exact bytes: decoding and
-- re-encoding with cjson would turn an empty array into {}, round numbers
-- to 14 digits and reorder keys. cjson only validates the blob and
-- decodes the key strings.

-- blobOf returns the session object stored at key, or raises GONE when
-- the key is missing (destroyed, renewed or expired: never resurrect it)
-- and BADBLOB when it is not a JSON object with a "cookie" object.
local function blobOf(key)
  local s = redis.call("GET", key)
  if not s then
    error({err = "ERR-CODE:GONE no session"})
  end
  local ok, obj = pcall(cjson.decode, s)
  if not ok or type(obj) ~= "table" or not string.find(s, "^%s*{")
    or type(obj.cookie) ~= "table" then
    error({err = "ERR-CODE:BADBLOB not an express-session object"})
  end
  return s
end

-- strEnd returns the index of the quote closing the string opened at i.
local function strEnd(s, i)
  local j = i + 1
  while true do
    local p = string.find(s, '["\\]', j)
    if string.sub(s, p, p) == "\\" then
      j = p + 2
    else
      return p
    end
  end
end

-- valEnd returns the index of the last byte of the JSON value at i.
local function valEnd(s, i)
  local c = string.sub(s, i, i)
  if c == '"' then
    return strEnd(s, i)
  end
  if c == "{" or c == "[" then
    local depth, j = 1, i + 1
    while true do
      local p = string.find(s, '["{}%[%]]', j)
      local d = string.sub(s, p, p)
      if d == '"' then
        p = strEnd(s, p)
      elseif d == "{" or d == "[" then
        depth = depth + 1
      else
        depth = depth - 1
        if depth == 0 then
          return p
        end
      end
      j = p + 1
    end
  end
  return (string.find(s, "[,}%s]", i)) - 1
end

-- members splits the (valid) object s into its top-level members, in
-- order: {name = decoded key, text = 'key:value' as stored, value = raw value}.
local function members(s)
  local out = {}
  local i = string.find(s, "{", 1, true) + 1
  while true do
    i = string.find(s, "[^%s,]", i)
    if string.sub(s, i, i) == "}" then
      return out
    end
    local ke = strEnd(s, i)
    local vs = string.find(s, "%S", string.find(s, ":", ke + 1, true) + 1)
    local ve = valEnd(s, vs)
    out[#out + 1] = {name = cjson.decode(string.sub(s, i, ke)), text = string.sub(s, i, ve), value = string.sub(s, vs, ve)}
    i = ve + 1
  end
end

-- find returns the raw value of the last member named name (JSON.parse
-- keeps the last of duplicates), or nil.
local function find(ms, name)
  local v
  for _, m in ipairs(ms) do
    if m.name == name then
      v = m.value
    end
  end
  return v
end

-- rebuild writes the object back: members in their order, those named in
-- sets replaced by the new value (duplicates dropped), those in dels
-- removed, and new names from sets appended in the order given.
local function rebuild(ms, sets, order, dels)
  local parts, done = {}, {}
  for _, m in ipairs(ms) do
    local v = sets[m.name]
    if v then
      if not done[m.name] then
        parts[#parts + 1] = cjson.encode(m.name) .. ":" .. v
        done[m.name] = true
      end
    elseif not dels[m.name] then
      parts[#parts + 1] = m.text
    end
  end
  for _, name in ipairs(order) do
    if not done[name] then
      parts[#parts + 1] = cjson.encode(name) .. ":" .. sets[name]
      done[name] = true
    end
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

-- store writes blob back: with a new TTL in seconds when ttl > 0, else
-- keeping the key's TTL (or its lack of one).
local function store(key, blob, ttl)
  if ttl > 0 then
    redis.call("SET", key, blob, "EX", ttl)
  else
    redis.call("SET", key, blob, "KEEPTTL")
  end
end
