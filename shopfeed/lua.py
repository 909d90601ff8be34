"""Lua fragments shared by Redis scripts of several apps (each script stays one round trip).

TOKEN_BUCKET defines `take_token(key, now_ms, per_ms, burst)`: a per-user token bucket in a
hash (`tokens`, `at`), refilled evenly at `per_ms` tokens a millisecond up to `burst`.
It returns 0 when a token was taken, else the milliseconds to wait for one (nothing taken).
Used by the room's chat (live/chat/log.py) and gifts (live/gifting/scripts.py).
"""

NOW_MS = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"""

TOKEN_BUCKET = """
local function take_token(key, now, per_ms, burst)
  local bucket = redis.call('HMGET', key, 'tokens', 'at')
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
  redis.call('HSET', key, 'tokens', tostring(tokens - 1), 'at', now)
  redis.call('PEXPIRE', key, math.ceil(burst / per_ms) + 1000)
  return 0
end
"""  # noqa: S105 - "TOKEN" as in a rate limit's tokens: Lua source, no secret
