"""The read-only Lua scripts the Redis adapter runs. None writes anything.

Both take every key they touch in KEYS. The sample script runs over chunks of queues, all chunks
sent in one pipeline: one round trip whatever the number of queues, each chunk an atomic read,
and no single script long enough to stall Redis for its other clients.
"""

# KEYS: for each queue, its STEPS sub-queue keys in the order consumers read them; last, the
#       ``unacked`` hash.
# ARGV: [1] sub-queues per queue, [2] attribute in-flight messages when at most this many,
#       [3] the publish-time header name, quoted as it appears in JSON (e.g. '"x-...-at"'),
#       [4] '1' to read the unacked hash in this call, '0' to skip it (one chunk reads it).
# Returns {queues, unacked_total, groups} (both false when the hash is skipped):
#   queues: per queue, depth (-1 when a key is not a list), the sha1 of the next message out (or
#           false) and the oldest publish time among the sub-queue heads as a string (or false);
#   unacked_total: HLEN of the hash (false when it is not a hash);
#   groups: (exchange, routing key, count) per destination of in-flight messages, the names still
#           JSON-escaped and false when unreadable; false when there were more than ARGV[2].
# The publish time is found with a plain string search, never by decoding the JSON: a 100 MB body
# costs one memchr-like scan, not a Lua table. Inside a JSON string a quote is escaped, so the
# needle followed by a colon can only match a real key.
SAMPLE = r"""
local steps = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local needle = ARGV[3]
local nqueues = (#KEYS - 1) / steps

local function published_at(raw)
  local from = 1
  for _ = 1, 8 do
    local s, e = string.find(raw, needle, from, true)
    if not s then return false end
    local ts = string.match(raw, '^%s*:%s*"?(%-?%d[%d%.eE%+%-]*)', e + 1)
    if ts and tonumber(ts) then return ts end
    from = e + 1
  end
  return false
end

local queues = {}
for q = 0, nqueues - 1 do
  local depth, digest, oldest = 0, false, false
  for s = 1, steps do
    local key = KEYS[q * steps + s]
    local n = redis.pcall('LLEN', key)
    if type(n) ~= 'number' then
      depth = -1
    elseif n > 0 and depth >= 0 then
      depth = depth + n
      local head = redis.call('LINDEX', key, -1)
      if head then
        if not digest then digest = redis.sha1hex(head) end
        local ts = published_at(head)
        if ts and (not oldest or tonumber(ts) < tonumber(oldest)) then oldest = ts end
      end
    end
  end
  queues[#queues + 1] = depth
  queues[#queues + 1] = digest
  queues[#queues + 1] = oldest
end

if ARGV[4] ~= '1' then return {queues, false, false} end
local ukey = KEYS[#KEYS]
local total = redis.pcall('HLEN', ukey)
if type(total) ~= 'number' then return {queues, false, false} end
if total > limit then return {queues, total, false} end

-- HSCAN rather than HVALS so a hash of large messages never sits whole in Lua memory; fields
-- are de-duplicated because SCAN may return an element twice.
local seen, counts, order = {}, {}, {}
local cursor = '0'
repeat
  local page = redis.call('HSCAN', ukey, cursor, 'COUNT', 500)
  cursor = page[1]
  local kv = page[2]
  for i = 1, #kv, 2 do
    if not seen[kv[i]] then
      seen[kv[i]] = true
      -- Kombu stores [message, exchange, routing_key]: the names are the last two strings.
      -- Anchored greedy match: one pass to the end, then backtracking finds the last two
      -- strings at once (an unanchored search would restart at every position).
      local ex, rk = string.match(kv[i + 1], '^.*"([^"]*)"%s*,%s*"([^"]*)"%s*%]%s*$')
      local group = ex and (ex .. '\0' .. rk) or '\1'
      if not counts[group] then
        counts[group] = 0
        order[#order + 1] = {ex or false, rk or false, group}
      end
      counts[group] = counts[group] + 1
    end
  end
until cursor == '0'

local groups = {}
for _, g in ipairs(order) do
  groups[#groups + 1] = g[1]
  groups[#groups + 1] = g[2]
  groups[#groups + 1] = counts[g[3]]
end
return {queues, total, groups}
"""

# KEYS: one queue's sub-queue keys in the order consumers read them. ARGV: offset, limit.
# Returns {total, i1, value1, i2, value2, ...} oldest first, i being the KEYS index (1-based) of
# the sub-queue the value sits in. One atomic read, so positions are consistent with the total.
PEEK = r"""
local offset = tonumber(ARGV[1])
local want = tonumber(ARGV[2])
local lens, total = {}, 0
for i, key in ipairs(KEYS) do
  lens[i] = redis.call('LLEN', key)
  total = total + lens[i]
end
local out = {total}
local skip = offset
for i, key in ipairs(KEYS) do
  if want <= 0 then break end
  local n = lens[i]
  if skip >= n then
    skip = skip - n
  else
    local take = math.min(want, n - skip)
    local values = redis.call('LRANGE', key, -(skip + take), -(skip + 1))
    for j = #values, 1, -1 do
      out[#out + 1] = i
      out[#out + 1] = values[j]
    end
    want = want - take
    skip = 0
  end
end
return out
"""

# KEYS: Kombu binding-table keys (``_kombu.binding.<exchange>``). Returns, per key, its members
# (what SMEMBERS answers: none for a key that is gone), or false when the key is not a set (not
# Kombu's). One script per chunk of keys instead of one SMEMBERS each: at 10,000 exchanges the
# per-command work in redis-py cost more than the broker's.
BINDINGS = r"""
local out = {}
for i, key in ipairs(KEYS) do
  local kind = redis.call('TYPE', key).ok
  if kind == 'set' or kind == 'none' then
    out[i] = redis.call('SMEMBERS', key)
  else
    out[i] = false
  end
end
return out
"""
