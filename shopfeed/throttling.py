"""Abuse limits: DRF throttles, the login rate, the lockout answer and WebSocket connects.

Counts live in the `ratelimit` cache (Redis when REDIS_URL is set, so every process shares
them). Rates are read from settings on each request, never bound at import, so an operator's
(or a test's) setting is the one in force. Every refusal over HTTP is a 429 with Retry-After.
"""

from __future__ import annotations

import math
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


class _LiveSettings:
    """DRF binds THROTTLE_RATES and the cache at import; read both when a request comes."""

    @property
    def THROTTLE_RATES(self):
        return api_settings.DEFAULT_THROTTLE_RATES

    @property
    def cache(self):
        return ratelimit_cache()

    def wait(self):
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
