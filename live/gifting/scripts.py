"""The room's gift state in Redis, changed only by these scripts (one round trip each, atomic, so
any number of processes may run them for one room).

Keys, all under the session's hash tag `{live:<id>}`:
  :g:rate:<user>            a sender's token bucket (hash: tokens, at)
  :g:sent:<send id>         "this send's event went out" (a resend publishes nothing)
  :g:ver                    bumped by every change of the board below
  :g:top                    sorted set: user id -> coins gifted in this session
  :g:names                  hash: user id -> '{"handle":..,"name":..}'
  :g:goal                   hash: target, progress, title (JSON string); absent: no goal
  :g:streaks                sorted set of "<sender>:<gift>" streaks still open
  :g:streak:<sender>:<gift> hash: sid, count, coins, last, pub, pubcount, sender, gift

Every event that shows the board carries it whole (`top`, `goal`) with its version `v`, so a
client (or a process's cached copy) keeps the newest and ignores an older one.
"""

_COMMON = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function emit(kseq, kevents, kchan, window, type_, ts, data)
  local id = redis.call('INCR', kseq)
  local frame = '{"type":"' .. type_ .. '","id":' .. id .. ',"ts":' .. ts
      .. ',"data":' .. data .. '}'
  redis.call('XADD', kevents, 'MAXLEN', window, id .. '-0', 'f', frame)
  redis.call('PUBLISH', kchan, frame)
  return id
end
local function board(ktop, knames, kgoal, kver, top_n)
  local ids = redis.call('ZREVRANGE', ktop, 0, top_n - 1, 'WITHSCORES')
  local parts = {}
  if #ids > 0 then
    local users = {}
    for i = 1, #ids, 2 do users[#users + 1] = ids[i] end
    local names = redis.call('HMGET', knames, unpack(users))
    for i = 1, #users do
      parts[#parts + 1] = '{"user":' .. (names[i] or 'null') .. ',"coins":' .. ids[2 * i] .. '}'
    end
  end
  local g = redis.call('HMGET', kgoal, 'target', 'progress', 'title')
  local goal = 'null'
  if g[1] then
    goal = '{"target":' .. g[1] .. ',"progress":' .. (g[2] or '0') .. ',"title":'
        .. (g[3] or '""') .. '}'
  end
  return '"top":[' .. table.concat(parts, ',') .. '],"goal":' .. goal
      .. ',"v":' .. (redis.call('GET', kver) or '0')
end
-- The room's budget for streak running counts (starts, ends and big gifts always go out):
-- a token bucket of `per_s` a second, so a storm of 200 streaks costs viewers ~per_s updates
-- a second, not 200. A count not shown now is shown by a later sweep, or by the streak's end.
local function update_allowed(key, now, per_s)
  local b = redis.call('HMGET', key, 'tokens', 'at')
  local tokens = tonumber(b[1]) or per_s
  local at = tonumber(b[2]) or now
  tokens = math.min(per_s, tokens + math.max(0, now - at) * per_s / 1000)
  if tokens < 1 then
    redis.call('HSET', key, 'tokens', tostring(tokens), 'at', now)
    return false
  end
  redis.call('HSET', key, 'tokens', tostring(tokens - 1), 'at', now)
  redis.call('PEXPIRE', key, 60000)
  return true
end
local function streak_data(sid, sender, gift, count, coins, extra, brd)
  return '{"streak":' .. sid .. ',"sender":' .. sender .. ',"gift":' .. gift
      .. ',"count":' .. count .. ',"coins":' .. coins .. extra .. ',' .. brd .. '}'
end
"""

# KEYS: seq, events, channel, bucket. ARGV: tokens per ms, burst.
# Returns 0 (take one) or the ms to wait.
RATE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local per_ms = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local bucket = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(bucket[1])
local at = tonumber(bucket[2])
if tokens == nil or at == nil then
  tokens = burst
  at = now
end
tokens = math.min(burst, tokens + math.max(0, now - at) * per_ms)
if tokens < 1 then
  return math.ceil((1 - tokens) / per_ms)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - 1), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / per_ms) + 1000)
return 0
"""

# A committed send. KEYS: seq, events, channel, sent marker, ver, top, names, goal, streaks,
# the streak. ARGV: replay window, send id, sender id, sender JSON, gift JSON, count, coins,
# combo-able (1/0), combo ms, update ms, top n, streak member, key ttl seconds, room updates/s.
# Returns {event ids published...}; {} for a send already published (a resend).
SEND = (
    _COMMON
    + """
local ttl = tonumber(ARGV[13])
if not redis.call('SET', KEYS[4], '1', 'NX', 'EX', ttl) then
  return {}
end
local now = now_ms()
local coins = tonumber(ARGV[7])
local count = tonumber(ARGV[6])
redis.call('INCR', KEYS[5])
redis.call('ZINCRBY', KEYS[6], coins, ARGV[3])
redis.call('HSET', KEYS[7], ARGV[3], ARGV[4])
if redis.call('EXISTS', KEYS[8]) == 1 then
  redis.call('HINCRBY', KEYS[8], 'progress', coins)
  redis.call('EXPIRE', KEYS[8], ttl)
end
for i = 5, 7 do redis.call('EXPIRE', KEYS[i], ttl) end
local window, combo_ms, update_ms = ARGV[1], tonumber(ARGV[9]), tonumber(ARGV[10])
local brd = board(KEYS[6], KEYS[7], KEYS[8], KEYS[5], tonumber(ARGV[11]))
local ids = {}
if ARGV[8] ~= '1' then
  local sid = redis.call('INCR', KEYS[1] .. ':g:streak-seq')
  local data = streak_data(sid, ARGV[4], ARGV[5], count, coins,
      ',"send":' .. ARGV[2] .. ',"combo":false,"final":true', brd)
  ids[1] = emit(KEYS[1], KEYS[2], KEYS[3], window, 'gift', now, data)
  return ids
end
local h = redis.call('HMGET', KEYS[10], 'sid', 'count', 'coins', 'last', 'pub', 'sender', 'gift')
if h[1] and now - tonumber(h[4]) < combo_ms then
  local total = tonumber(h[2]) + count
  local streak_coins = tonumber(h[3]) + coins
  redis.call('HSET', KEYS[10], 'count', total, 'coins', streak_coins, 'last', now,
      'sender', ARGV[4])
  if now - tonumber(h[5]) >= update_ms
      and update_allowed(KEYS[9] .. ':budget', now, tonumber(ARGV[14])) then
    redis.call('HSET', KEYS[10], 'pub', now, 'pubcount', total)
    local data = streak_data(h[1], ARGV[4], ARGV[5], total, streak_coins,
        ',"send":' .. ARGV[2] .. ',"combo":true,"final":false', brd)
    ids[1] = emit(KEYS[1], KEYS[2], KEYS[3], window, 'gift', now, data)
  end
else
  if h[1] then
    -- The last streak ran out but no sweep ended it yet: end it first, in order.
    local data = streak_data(h[1], h[6], h[7], h[2], h[3], '', brd)
    ids[#ids + 1] = emit(KEYS[1], KEYS[2], KEYS[3], window, 'gift.end', now, data)
  end
  local sid = redis.call('INCR', KEYS[1] .. ':g:streak-seq')
  redis.call('DEL', KEYS[10])
  redis.call('HSET', KEYS[10], 'sid', sid, 'count', count, 'coins', coins, 'last', now,
      'pub', now, 'pubcount', count, 'sender', ARGV[4], 'gift', ARGV[5])
  local data = streak_data(sid, ARGV[4], ARGV[5], count, coins,
      ',"send":' .. ARGV[2] .. ',"combo":true,"final":false', brd)
  ids[#ids + 1] = emit(KEYS[1], KEYS[2], KEYS[3], window, 'gift', now, data)
end
redis.call('PEXPIRE', KEYS[10], combo_ms * 20)
redis.call('ZADD', KEYS[9], now, ARGV[12])
redis.call('EXPIRE', KEYS[9], ttl)
return ids
"""
)

# End the streaks that ran out and show the running count of those that moved since their
# last event. KEYS: seq, events, channel, ver, top, names, goal, streaks.
# ARGV: replay window, combo ms, update ms, top n, streak key prefix, room updates/s.
# Returns events published.
SWEEP = (
    _COMMON
    + """
local members = redis.call('ZRANGE', KEYS[8], 0, -1)
if #members == 0 then return 0 end
local now = now_ms()
local window, combo_ms, update_ms = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local brd = nil
local n = 0
for _, m in ipairs(members) do
  local key = ARGV[5] .. m
  local h = redis.call('HMGET', key, 'sid', 'count', 'coins', 'last', 'pub', 'pubcount',
      'sender', 'gift')
  if not h[1] then
    redis.call('ZREM', KEYS[8], m)
  else
    if brd == nil then brd = board(KEYS[5], KEYS[6], KEYS[7], KEYS[4], tonumber(ARGV[4])) end
    if now - tonumber(h[4]) >= combo_ms then
      emit(KEYS[1], KEYS[2], KEYS[3], window, 'gift.end', now,
          streak_data(h[1], h[7], h[8], h[2], h[3], '', brd))
      redis.call('DEL', key)
      redis.call('ZREM', KEYS[8], m)
      n = n + 1
    elseif tonumber(h[6]) < tonumber(h[2]) and now - tonumber(h[5]) >= update_ms
        and update_allowed(KEYS[8] .. ':budget', now, tonumber(ARGV[6])) then
      redis.call('HSET', key, 'pub', now, 'pubcount', h[2])
      emit(KEYS[1], KEYS[2], KEYS[3], window, 'gift', now,
          streak_data(h[1], h[7], h[8], h[2], h[3], ',"combo":true,"final":false', brd))
      n = n + 1
    end
  end
end
return n
"""
)

# Set (ARGV[2] > 0) or clear (ARGV[2] == 0) the goal and tell the room.
# KEYS: seq, events, channel, ver, top, names, goal. ARGV: window, target, title JSON, top n,
# key ttl seconds. Returns the event id.
GOAL = (
    _COMMON
    + """
if tonumber(ARGV[2]) > 0 then
  redis.call('DEL', KEYS[7])
  redis.call('HSET', KEYS[7], 'target', ARGV[2], 'progress', 0, 'title', ARGV[3])
  redis.call('EXPIRE', KEYS[7], tonumber(ARGV[5]))
else
  redis.call('DEL', KEYS[7])
end
redis.call('INCR', KEYS[4])
redis.call('EXPIRE', KEYS[4], tonumber(ARGV[5]))
local brd = board(KEYS[5], KEYS[6], KEYS[7], KEYS[4], tonumber(ARGV[4]))
return emit(KEYS[1], KEYS[2], KEYS[3], ARGV[1], 'gift.goal', now_ms(), '{' .. brd .. '}')
"""
)

# The board as JSON text. KEYS: ver, top, names, goal. ARGV: top n.
BOARD = (
    _COMMON
    + """
return '{' .. board(KEYS[2], KEYS[3], KEYS[4], KEYS[1], tonumber(ARGV[1])) .. '}'
"""
)
