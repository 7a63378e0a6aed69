"""The Lua scripts with which operator actions change Redis. Each runs atomically: a message is
either still in its queue or already in its target, never in neither.

No script decodes a message. MOVE gets (exact old value, new value) pairs from Python, so a 10 MB
body costs one LREM scan, not a Lua table; BULK_MOVE rewrites values itself with substring
searches and one splice, and leaves any value it does not recognise to MOVE's path.
"""

# KEYS: [1] the action's progress hash, then per message its source key and target key (the
#       source key again when deleting).
# ARGV: [1] claim token (the progress hash's ``owner`` must equal it: a runner that lost its claim
#       is fenced off), [2] messages scanned in this batch, [3] "move" or "delete", [4] TTL in
#       seconds of the progress hash, [5] selected messages left in place because they have no
#       target, then per message its exact stored value and its new value.
# Each old value is removed once from the oldest end (LREM -1); only when that removed one is the
# new value pushed to the target, so a message consumed meanwhile is skipped, never duplicated.
# The progress counters change in the same script, which makes them exact across crashes.
# Returns {scanned, moved, missing, unroutable} totals.
MOVE = r"""
local progress = KEYS[1]
if redis.call('HGET', progress, 'owner') ~= ARGV[1] then
  return redis.error_reply('SWITCHYARD_FENCED this runner no longer owns the action')
end
local moving = ARGV[3] == 'move'
local moved, missing = 0, 0
for i = 1, (#KEYS - 1) / 2 do
  local removed = redis.call('LREM', KEYS[2 * i], -1, ARGV[4 + 2 * i])
  if removed == 1 then
    if moving then redis.call('LPUSH', KEYS[2 * i + 1], ARGV[5 + 2 * i]) end
    moved = moved + 1
  else
    missing = missing + 1
  end
end
local scanned = redis.call('HINCRBY', progress, 'scanned', tonumber(ARGV[2]))
local total_moved = redis.call('HINCRBY', progress, 'moved', moved)
local total_missing = redis.call('HINCRBY', progress, 'missing', missing)
local unroutable = redis.call('HINCRBY', progress, 'unroutable', tonumber(ARGV[5]))
redis.call('EXPIRE', progress, tonumber(ARGV[4]))
return {scanned, total_moved, total_missing, unroutable}
"""

# Kombu's ``restore_by_tag`` as one script: KEYS [1] unacked hash, [2] unacked_index zset,
# [3] the queue key; ARGV [1] delivery tag, [2] the exact value expected in the hash, [3] the
# value to push (with ``redelivered`` set, as Kombu does). RPUSH puts it at the consuming end, as
# Kombu does, so it is delivered next. Returns 1 when restored, 0 when the consumer acked it or
# Kombu restored it meanwhile (nothing changes then).
RESTORE_UNACKED = r"""
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('RPUSH', KEYS[3], ARGV[3])
return 1
"""

# The bulk move: the common requeue/move (every message, same provenance headers) without the
# client ever seeing a message. The contract is in ``moves.py``; per message it does, with
# plain substring searches and one anchored match (no JSON decode, no scan of a body by a pattern):
#   1. none of the texts ARGV[7..] occurs (an added header already there: the client path
#      replaces it instead of adding a duplicate key);
#   2. with ARGV[6] set: there is no ``\u00`` escape (a key spelled with escapes could hide) and
#      every key whose name ends in ``queue`` (``queue`` in an ``x-death`` entry,
#      ``x-first-death-queue``) holds exactly that JSON text. The message's dead-letter origin is
#      then the target or nothing, so its target is the target either way (the caller passes the
#      fallback target as the target). ``queue"`` followed by anything but ``,`` ``]`` ``}`` may
#      be a key: it must be followed by ``: <target>`` and ``,`` or ``}``;
#   3. the splice: the value must start as ``splice.KOMBU_HEAD`` says (``%b""`` is "from a
#      quote to the next quote" as the regex's ``"[^"]*"``, ``%f["]`` "a quote follows" as its
#      ``(?=")``), and the members are inserted right after the brace of the top-level headers,
#      as the client splice does;
#   4. with ARGV[8] > 0, a message whose text holds ``"x-death"``, a receive-count key or a
#      ``\u00`` escape is decoded (cjson): its deaths, counted as ``messaging.poison.death_count``
#      counts them, must stay below ARGV[8] (poison is the selector's to leave behind);
#   5. the target sub-queue: the message's priority step, as the per-message path finds it in the
#      decoded properties (Kombu files by priority, and the integration's DLQ holds every priority
#      in its bare list). The value must hold ``"priority"`` at most once, after the one
#      ``"properties": {``, followed by ``: `` and an integer: then that integer is the top-level
#      properties' priority (Kombu writes ``properties`` last, and its other values are strings
#      and ``delivery_info``); without it the message keeps the step it sits in, as on that path.
# A message that fails 1-5 ends the call and stays where it is, first in line, for the client path.
# Step 3's match is made first: the searches of 1 and 2 start after it, where every key is.
# Values are read with LRANGE in windows from the oldest end of each priority sub-queue (consumer
# order), removed with LTRIM and pushed with one LPUSH per window and target sub-queue, oldest first.
# KEYS: [1] the action's progress hash, then the source's sub-queue keys in the order consumers
#       read them, then the target's sub-queue keys for the same priority steps.
# ARGV: [1] claim token (fencing, as MOVE), [2] take at most this many messages, [3] stop after
#       this many bytes pushed, [4] TTL of the progress hash, [5] the members to add (JSON text,
#       no trailing comma), [6] the target's name as JSON text when origins must be checked
#       (else ''), [7] the priority steps in KEYS order, comma-separated, [8] deaths that make a
#       message poison (0: no check), [9..] texts whose presence sends a message to the client path.
# Returns {scanned, moved, missing, unroutable, taken, stop}: progress totals, the messages moved
# by this call, and why it stopped: 'full' (ARGV[2] or ARGV[3] reached), 'empty' (the source has
# no more messages), 'other' (the next message needs the client path).
BULK_MOVE = r"""
local progress = KEYS[1]
if redis.call('HGET', progress, 'owner') ~= ARGV[1] then
  return redis.error_reply('SWITCHYARD_FENCED this runner no longer owns the action')
end
local want, max_bytes = tonumber(ARGV[2]), tonumber(ARGV[3])
local find, byte, gsub = string.find, string.byte, string.gsub
-- %0 (the whole match) and the rest of the value are copied into the result, which is the one
-- string created per message: Redis' Lua hashes every byte of every new string, so substrings
-- would cost as much again.
local HEAD = '^{"body": %b"", "content%-encoding": %b"", "content%-type": %b"", "headers": {%f["]'
local splice = '%0' .. gsub(ARGV[5], '%%', '%%%%') .. ', '
local origin = false
if ARGV[6] ~= '' then
  origin = '^: ' .. gsub(ARGV[6], '[%^%$%(%)%%%.%[%]%*%+%-%?]', '%%%0') .. '[,}]'
end
local priority_steps = {}
for step in string.gmatch(ARGV[7], '%d+') do priority_steps[#priority_steps + 1] = tonumber(step) end
local poison_deaths = tonumber(ARGV[8])
local probes = {}
for i = 9, #ARGV do probes[#probes + 1] = ARGV[i] end
local DEATH_MARKERS = {'"x-death"', '"ApproximateReceiveCount"', '"approximate_receive_count"', '\\u00'}
local COUNT_KEYS = {'ApproximateReceiveCount', 'approximate_receive_count'}
local steps = (#KEYS - 1) / 2

-- The index (in KEYS order) of the sub-queue the message's priority files it under; ``here``
-- (the one it sits in) when it has no priority; nil when the text does not say for sure.
local function target_step(v, head, here)
  local props = find(v, '"properties": {', head, true)
  if not props or find(v, '"properties": {', props + 1, true) then return nil end
  local at = find(v, '"priority"', head, true)
  if not at then return here end
  if at < props or find(v, '"priority"', at + 1, true) then return nil end
  local n = string.match(v, '^: (%-?%d+)[,}]', at + 10)
  if not n then return nil end
  n = math.max(0, math.min(tonumber(n), 255))
  local index = nil
  for i, step in ipairs(priority_steps) do
    if step <= n then index = i end
  end
  return index
end

local function whole(x)
  return type(x) == 'number' and x == math.floor(x)
end

-- The message's deaths as messaging.poison.death_count counts them; nil when it does not decode.
local function deaths_of(v)
  local ok, message = pcall(cjson.decode, v)
  if not ok or type(message) ~= 'table' then return nil end
  local headers = type(message['headers']) == 'table' and message['headers'] or {}
  local total = 0
  local entries = headers['x-death']
  if type(entries) == 'table' then
    for i = 1, math.min(#entries, 100) do
      local count = type(entries[i]) == 'table' and entries[i]['count']
      if whole(count) and count > 0 then total = total + count end
    end
  end
  local properties = type(message['properties']) == 'table' and message['properties'] or {}
  for _, source in ipairs({headers, properties}) do
    for _, key in ipairs(COUNT_KEYS) do
      local count = source[key]
      if type(count) == 'string' and #count < 10 and string.match(count, '^%d+$') then count = tonumber(count) end
      if whole(count) and count > total then total = count end
    end
  end
  return total
end

local function maybe_poison(v, head)
  for i = 1, #DEATH_MARKERS do
    if find(v, DEATH_MARKERS[i], head, true) then
      local deaths = deaths_of(v)
      return deaths == nil or deaths >= poison_deaths
    end
  end
  return false
end

local function rewritten(v, here)
  -- Every key of the envelope comes after the top-level headers brace (the values before it hold
  -- no quote, by HEAD), so the searches start there and skip the body.
  local _, head = find(v, HEAD)
  if not head then return nil end
  local into = target_step(v, head, here)
  if not into then return nil end
  for i = 1, #probes do
    if find(v, probes[i], head, true) then return nil end
  end
  if poison_deaths > 0 and maybe_poison(v, head) then return nil end
  if origin then
    if find(v, '\\u00', head, true) then return nil end
    local from = head
    while true do
      local at = find(v, 'queue"', from, true)
      if not at then break end
      from = at + 6
      if not find(v, origin, from) then
        local c = byte(v, from)
        if c ~= 44 and c ~= 93 and c ~= 125 then return nil end
      end
    end
  end
  return (gsub(v, HEAD, splice, 1)), into
end

local taken, bytes, stop = 0, 0, 'empty'
for s = 1, steps do
  local source = KEYS[1 + s]
  while stop == 'empty' do
    local window = math.min(want - taken, 100)
    local values = redis.call('LRANGE', source, -window, -1)
    local outs, count = {}, 0
    for j = #values, 1, -1 do
      local new, into = rewritten(values[j], s)
      if not new then
        stop = 'other'
        break
      end
      outs[into] = outs[into] or {}
      outs[into][#outs[into] + 1] = new
      count = count + 1
      bytes = bytes + #new
      if taken + count >= want or bytes >= max_bytes then
        stop = 'full'
        break
      end
    end
    if count > 0 then
      redis.call('LTRIM', source, 0, -(count + 1))
      for t = 1, steps do
        if outs[t] then redis.call('LPUSH', KEYS[1 + steps + t], unpack(outs[t])) end
      end
      taken = taken + count
    end
    if #values < window then break end
  end
  if stop ~= 'empty' then break end
end
local scanned = redis.call('HINCRBY', progress, 'scanned', taken)
local moved = redis.call('HINCRBY', progress, 'moved', taken)
local missing = redis.call('HINCRBY', progress, 'missing', 0)
local unroutable = redis.call('HINCRBY', progress, 'unroutable', 0)
redis.call('EXPIRE', progress, tonumber(ARGV[4]))
return {scanned, moved, missing, unroutable, taken, stop}
"""
