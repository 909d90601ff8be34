"""Abuse limits: DRF throttles, the login rate, the lockout answer and WebSocket connects.

Counts live in the `ratelimit` cache (Redis when REDIS_URL is set, so every process shares
them). Rates are read from settings on each request, never bound at import, so an operator's
(or a test's) setting is the one in force. Every refusal over HTTP is a 429 with Retry-After.
"""

from __future__ import annotations

import math
import os
import time

from asgiref.sync import sync_to_async
from axes.handlers import cache as axes_cache
from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from rest_framework import throttling
from rest_framework.settings import api_settings


def ratelimit_cache():
    # Settings that replace CACHES wholesale (a test, a bench) may leave the alias out.
    alias = settings.RATE_LIMIT_CACHE if settings.RATE_LIMIT_CACHE in settings.CACHES else "default"
    return caches[alias]


def client_ip(request) -> str:
    """The caller's address: REMOTE_ADDR, or the one NUM_PROXIES trusted proxies saw.

    X-Forwarded-For is the client's own word unless a proxy we trust wrote it, so it is only
    read when REST_FRAMEWORK["NUM_PROXIES"] says how many of its entries are ours.
    """
    return throttling.BaseThrottle().get_ident(request) or ""


# DRF's sliding log, kept in Redis as a sorted set per key: one round trip, and no list of
# timestamps read, unpickled, pickled and written back on every request (which grew with the
# rate and was most of a cached API hit's time). Same rule as DRF's: a request is refused when
# `limit` requests were counted in the last `duration`; a refused one is not counted.
# For each check (key, limit, duration ms, member) in ARGV from ARGV[1]: returns the
# milliseconds to wait, 0 when allowed and counted. Loaded with THROTTLE_LUA_FUNCTION into
# scripts that do more in the same round trip (the shopping tab's cache lookup).
THROTTLE_LUA_FUNCTION = """
local function throttle_checks(first, last)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local waits = {}
  for i = first, last, 4 do
    local key, limit, duration = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now - duration)
    local n = redis.call('ZCARD', key)
    if n >= limit then
      local oldest = redis.call('ZRANGE', key, n - limit, n - limit, 'WITHSCORES')
      waits[#waits + 1] = math.max(1, duration - (now - tonumber(oldest[2])))
    else
      redis.call('ZADD', key, now, ARGV[i + 3])
      redis.call('PEXPIRE', key, duration)
      waits[#waits + 1] = 0
    end
  end
  return waits
end
"""
_THROTTLE = THROTTLE_LUA_FUNCTION + "return throttle_checks(1, #ARGV)"
_throttle_script = None  # redis-py's Script (its SHA); called with each request's client


_redis_clients: dict = {}


def redis_of(cache):
    """A redis-py client on a Django RedisCache's own connection pool, or None for any other
    backend. Kept per pool: the cache builds a new client object on every call otherwise."""
    from django.core.cache.backends.redis import RedisCache

    if not isinstance(cache, RedisCache):
        return None
    pool = cache._cache._get_connection_pool(write=True)
    got = _redis_clients.get(id(pool))
    if got is None or got[0] is not pool:
        got = _redis_clients[id(pool)] = (pool, cache._cache._client(connection_pool=pool))
    return got[1]


class _LiveSettings:
    """DRF binds THROTTLE_RATES and the cache at import; read both when a request comes.

    With Redis, the count is a sorted set changed by one script (see THROTTLE_LUA_FUNCTION)."""

    @property
    def THROTTLE_RATES(self):
        return api_settings.DEFAULT_THROTTLE_RATES

    @property
    def cache(self):
        return ratelimit_cache()

    def _rate_for(self, view) -> bool:
        """Whether this request has a rate here; a scoped throttle takes the view's scope
        first (DRF's ScopedRateThrottle does it in the allow_request this class replaces)."""
        if isinstance(self, throttling.ScopedRateThrottle):
            self.scope = getattr(view, self.scope_attr, None)
            if not self.scope:
                return False
            self.rate = self.get_rate()
            self.num_requests, self.duration = self.parse_rate(self.rate)
        return self.rate is not None

    def check_args(self, request, view) -> list | None:
        """This throttle's check for the Redis script (key, limit, ms, member); None when the
        request is not counted here or the counts are not in Redis."""
        if redis_of(self.cache) is None or not self._rate_for(view):
            return None
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return None
        key = self.cache.make_and_validate_key(f"z:{self.key}")
        return [key, self.num_requests, self.duration * 1000, os.urandom(8).hex()]

    def allow_request(self, request, view):
        client = redis_of(self.cache)
        if client is None:
            return super().allow_request(request, view)
        args = self.check_args(request, view)
        if args is None:
            return True
        global _throttle_script
        if _throttle_script is None:
            _throttle_script = client.register_script(_THROTTLE)
        (waited,) = _throttle_script(args=args, client=client)
        return self.checked(int(waited))

    def checked(self, wait_ms: int) -> bool:
        """The script's answer for this throttle: allowed, or refused (with the wait kept)."""
        self._wait_ms = wait_ms
        return wait_ms == 0

    def wait(self):
        if getattr(self, "_wait_ms", None) is not None:
            return max(1, math.ceil(self._wait_ms / 1000))
        # DRF gives no wait (so no Retry-After) when the history is longer than the rate, as
        # after the rate was lowered: wait until enough of it has aged out.
        if not self.history:
            return self.duration
        oldest_that_counts = self.history[min(self.num_requests, len(self.history)) - 1]
        return max(1, self.duration - (self.now - oldest_that_counts))


class AnonThrottle(_LiveSettings, throttling.AnonRateThrottle):
    pass


class UserThrottle(_LiveSettings, throttling.UserRateThrottle):
    pass


class LoginThrottle(_LiveSettings, throttling.SimpleRateThrottle):
    """Password attempts per address (the `login` rate), on the token endpoint and login form."""

    scope = "login"

    def get_cache_key(self, request, view):
        if request.method != "POST":
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def login_attempt_refused(request: HttpRequest) -> float | None:
    """Count a password attempt; the seconds to wait when there were too many, else None."""
    throttle = LoginThrottle()
    if throttle.allow_request(request, None):
        return None
    return throttle.wait() or 1


def too_many_attempts(request: HttpRequest, *, wait: float, code: str) -> HttpResponse:
    """The one answer to every refused login, the same whether or not the account exists."""
    seconds = max(1, math.ceil(wait))
    minutes = max(1, math.ceil(seconds / 60))
    message = (
        f"Too many login attempts. Try again in {minutes} minute{'s' if minutes != 1 else ''}."
    )
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": message, "code": code}, status=429)
    else:
        response = render(
            request, "registration/too_many_attempts.html", {"message": message}, status=429
        )
    response["Retry-After"] = str(seconds)
    return response


class AxesCacheHandler(axes_cache.AxesCacheHandler):
    """django-axes' cache handler (AXES_HANDLER with Redis), finding the `ratelimit` cache when
    it is used: axes builds its handler once per process and would otherwise keep the cache
    of that moment for good."""

    def __init__(self):  # the parent only binds self.cache
        pass

    @property
    def cache(self):
        return ratelimit_cache()


def lockout_response(request, original_response=None, credentials=None) -> HttpResponse:
    """django-axes' AXES_LOCKOUT_CALLABLE: a locked account or address."""
    cool_off = settings.AXES_COOLOFF_TIME
    return too_many_attempts(request, wait=cool_off.total_seconds(), code="locked_out")


def parse_rate(rate: str) -> tuple[int, int]:
    """DRF's rate format, "N/period" with period s, m(in), h(our) or d(ay)."""
    return throttling.SimpleRateThrottle.parse_rate(None, rate)


def count_websocket_connect(ip: str) -> int | None:
    """Count a socket opening from `ip` (fixed window); the seconds to wait if over the limit.

    Called from the async ASGI stack: the cache calls are quick, one round trip each.
    """
    limit, period = parse_rate(settings.WS_CONNECT_RATE)
    window = int(time.time() // period)
    key = f"ws-connect:{ip}:{window}"
    cache = ratelimit_cache()
    if cache.add(key, 1, timeout=period + 1):
        count = 1
    else:
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr: a new window
            cache.add(key, 1, timeout=period + 1)
            count = 1
    if count <= limit:
        return None
    return max(1, math.ceil((window + 1) * period - time.time()))


# INCR and, for the window's first connect, EXPIRE: one round trip, atomic.
_COUNT_CONNECT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""
_async_clients: dict = {}


async def acount_websocket_connect(ip: str) -> int | None:
    """count_websocket_connect on the event loop: with Redis, one script on an asyncio client
    (the same key in the `ratelimit` cache); a join storm must not queue a thread per socket."""
    from django.core.cache.backends.redis import RedisCache

    cache = ratelimit_cache()
    if not isinstance(cache, RedisCache):
        return await sync_to_async(count_websocket_connect, thread_sensitive=False)(ip)
    limit, period = parse_rate(settings.WS_CONNECT_RATE)
    window = int(time.time() // period)
    key = cache.make_and_validate_key(f"ws-connect:{ip}:{window}")
    count = int(await async_redis(cache).eval(_COUNT_CONNECT, 1, key, period + 1))
    if count <= limit:
        return None
    return max(1, math.ceil((window + 1) * period - time.time()))


def async_redis(cache):
    """An asyncio Redis client for a Django RedisCache's server, one per event loop (a join
    storm must not queue a thread per socket for a cache round trip)."""
    import asyncio

    import redis.asyncio as aioredis
    from redis.maint_notifications import MaintNotificationsConfig

    url = cache._servers[0]
    key = (asyncio.get_running_loop(), url)
    client = _async_clients.get(key)
    if client is None:
        # A blocking pool: a storm of connects waits for a connection instead of failing past
        # redis-py's default cap; Redis 7.0 refuses redis-py 8's maintenance handshake.
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=16,
            timeout=20,
            maint_notifications_config=MaintNotificationsConfig(enabled=False),
        )
        client = _async_clients[key] = aioredis.Redis(connection_pool=pool)
    return client
