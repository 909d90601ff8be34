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

from gifts.sending.store import RESERVE
from shopfeed.lua import NOW_MS, TOKEN_BUCKET

_COMMON = (
    NOW_MS
    + """
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
-- The room's budget for streak starts and running counts (ends and big gifts always go out):
-- a token bucket of `per_s` a second, so a storm of 200 streaks costs viewers ~per_s events
-- a second, not 200. A start or count not shown now is shown by a later sweep, or by the
-- streak's end.
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
)

# KEYS: the sender's bucket. ARGV: tokens per ms, burst. Returns 0 (took one) or ms to wait.
RATE = (
    NOW_MS
    + TOKEN_BUCKET
    + """
return take_token(KEYS[1], now_ms(), tonumber(ARGV[1]), tonumber(ARGV[2]))
"""
)

# Publish one send: the ranking and goal move and a combo-able gift joins its sender's streak.
# k: seq, events, chan, ver, top, names, goal, streaks, streak. a: window, send, sender_id,
# sender (JSON), gift (JSON), count, coins, combo ('1'/'0'), combo_ms, update_ms, top_n, member,
# ttl, room_updates. Returns {event ids published...}.
_PUBLISH_SEND = """
local function publish_send(k, a)
local now = now_ms()
local ttl = tonumber(a.ttl)
local coins = tonumber(a.coins)
local count = tonumber(a.count)
redis.call('INCR', k.ver)
redis.call('ZINCRBY', k.top, coins, a.sender_id)
redis.call('HSET', k.names, a.sender_id, a.sender)
if redis.call('EXISTS', k.goal) == 1 then
  redis.call('HINCRBY', k.goal, 'progress', coins)
  redis.call('EXPIRE', k.goal, ttl)
end
for _, key in ipairs({k.ver, k.top, k.names}) do redis.call('EXPIRE', key, ttl) end
local window, combo_ms, update_ms = a.window, tonumber(a.combo_ms), tonumber(a.update_ms)
local brd = board(k.top, k.names, k.goal, k.ver, tonumber(a.top_n))
local ids = {}
if a.combo ~= '1' then
  local sid = redis.call('INCR', k.seq .. ':g:streak-seq')
  local data = streak_data(sid, a.sender, a.gift, count, coins,
      ',"send":' .. a.send .. ',"combo":false,"final":true', brd)
  ids[1] = emit(k.seq, k.events, k.chan, window, 'gift', now, data)
  return ids
end
local h = redis.call('HMGET', k.streak, 'sid', 'count', 'coins', 'last', 'pub', 'sender', 'gift')
if h[1] and now - tonumber(h[4]) < combo_ms then
  local total = tonumber(h[2]) + count
  local streak_coins = tonumber(h[3]) + coins
  redis.call('HSET', k.streak, 'count', total, 'coins', streak_coins, 'last', now,
      'sender', a.sender)
  if now - tonumber(h[5]) >= update_ms
      and update_allowed(k.streaks .. ':budget', now, tonumber(a.room_updates)) then
    redis.call('HSET', k.streak, 'pub', now, 'pubcount', total)
    local data = streak_data(h[1], a.sender, a.gift, total, streak_coins,
        ',"send":' .. a.send .. ',"combo":true,"final":false', brd)
    ids[1] = emit(k.seq, k.events, k.chan, window, 'gift', now, data)
  end
else
  if h[1] then
    -- The last streak ran out but no sweep ended it yet: end it first, in order.
    local data = streak_data(h[1], h[6], h[7], h[2], h[3], '', brd)
    ids[#ids + 1] = emit(k.seq, k.events, k.chan, window, 'gift.end', now, data)
  end
  local sid = redis.call('INCR', k.seq .. ':g:streak-seq')
  redis.call('DEL', k.streak)
  if update_allowed(k.streaks .. ':budget', now, tonumber(a.room_updates)) then
    redis.call('HSET', k.streak, 'sid', sid, 'count', count, 'coins', coins, 'last', now,
        'pub', now, 'pubcount', count, 'sender', a.sender, 'gift', a.gift)
    local data = streak_data(sid, a.sender, a.gift, count, coins,
        ',"send":' .. a.send .. ',"combo":true,"final":false', brd)
    ids[#ids + 1] = emit(k.seq, k.events, k.chan, window, 'gift', now, data)
  else
    -- Past the room's budget (a storm of streaks starting at once): a sweep shows it as its
    -- running count when the budget allows, or its end does; never dropped.
    redis.call('HSET', k.streak, 'sid', sid, 'count', count, 'coins', coins, 'last', now,
        'pub', 0, 'pubcount', 0, 'sender', a.sender, 'gift', a.gift)
  end
end
redis.call('PEXPIRE', k.streak, combo_ms * 20)
redis.call('ZADD', k.streaks, now, a.member)
redis.call('EXPIRE', k.streaks, ttl)
return ids
end
"""

_SEND_KEYS = """
local function send_keys(first)
  return {seq = KEYS[first], events = KEYS[first + 1], chan = KEYS[first + 2],
      ver = KEYS[first + 3], top = KEYS[first + 4], names = KEYS[first + 5],
      goal = KEYS[first + 6], streaks = KEYS[first + 7], streak = KEYS[first + 8]}
end
local function send_args(first, send)
  return {window = ARGV[first], send = send, sender_id = ARGV[first + 2],
      sender = ARGV[first + 3], gift = ARGV[first + 4], count = ARGV[first + 5],
      coins = ARGV[first + 6], combo = ARGV[first + 7], combo_ms = ARGV[first + 8],
      update_ms = ARGV[first + 9], top_n = ARGV[first + 10], member = ARGV[first + 11],
      ttl = ARGV[first + 12], room_updates = ARGV[first + 13]}
end
"""

# A send committed on the PostgreSQL path (no Redis mirror). KEYS: seq, events, channel, ver,
# top, names, goal, streaks, the streak, sent marker. ARGV: replay window, send id, sender id,
# sender JSON, gift JSON, count, coins, combo-able (1/0), combo ms, update ms, top n, streak
# member, key ttl seconds, room updates/s.
# Returns {event ids published...}; {} for a send already published (a resend).
SEND = (
    _COMMON
    + _PUBLISH_SEND
    + _SEND_KEYS
    + """
if not redis.call('SET', KEYS[10], '1', 'NX', 'EX', tonumber(ARGV[13])) then
  return {}
end
return publish_send(send_keys(1), send_args(1, ARGV[2]))
"""
)

# A room send with Redis (DESIGN.md section 5a), in one round trip: the sender's token bucket,
# then gifts' reserve (gifts.sending.store.RESERVE: the wallet mirror, daily cap, freeze, ages,
# client token, the writer's stream), then the room event as SEND publishes it. KEYS: as SEND's
# first nine, then the bucket, the mirror, the token, the host's facts, the stream. ARGV: as
# SEND's (the send id is the reservation's uid), then tokens per ms, burst, today (YYYYMMDD),
# day, request signature, token ttl s, mirror max age ms, the stream payload.
# Returns {'rate', ms to wait} or gift_reserve's answer.
RESERVE_AND_SEND = (
    _COMMON
    + TOKEN_BUCKET
    + RESERVE
    + _PUBLISH_SEND
    + _SEND_KEYS
    + """
local now = now_ms()
local wait = take_token(KEYS[10], now, tonumber(ARGV[15]), tonumber(ARGV[16]))
if wait > 0 then return {'rate', wait} end
local r = gift_reserve(KEYS[11], KEYS[12], KEYS[13], KEYS[14], {
  uid = ARGV[2], coins = tonumber(ARGV[7]), today = tonumber(ARGV[17]), day = ARGV[18],
  sig = ARGV[19], token_ttl = tonumber(ARGV[20]), max_age = tonumber(ARGV[21]), now = now,
  payload = ARGV[22]})
if r[1] ~= 'ok' then return r end
publish_send(send_keys(1), send_args(1, '"' .. ARGV[2] .. '"'))
return r
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
