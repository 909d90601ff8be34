"""Where precomputed feeds live: Redis (REDIS_URL), one sorted set per user.

Keys (Redis databases are per deployment; the names need no prefix beyond `feed:`):
- `feed:fy:<user>`      sorted set: the user's next For You videos, score = rank (higher first)
- `feed:why:<user>`     hash: video id -> the ranker's reasons for it (JSON), kept for "why"
- `feed:served:<user>`  sorted set: videos served to the user, score = when (not repeated)
- `feed:active`         sorted set: users by when they last read For You (the beat job)
- `feed:popular:<region>`  the region's non-personalised list (JSON), a short-lived cache
- `feed:refill:<user>`  a short lock so scrolling queues one refill at a time

Without REDIS_URL (a bare `make run`) the same calls go to a dictionary in this process: one
process, nothing shared, which is all a bare machine runs.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from django.conf import settings

ACTIVE_KEY = "feed:active"
WHY_TTL_SECONDS = 14 * 24 * 3600
FEED_TTL_SECONDS = 3 * 24 * 3600

_client_lock = threading.Lock()
_clients: dict[str, Any] = {}


def client():
    url = settings.REDIS_URL
    if not url:
        return _local
    with _client_lock:
        c = _clients.get(url)
        if c is None:
            import redis

            c = _clients[url] = redis.Redis.from_url(url, decode_responses=True)
        return c


def _key(kind: str, ident) -> str:
    return f"feed:{kind}:{ident}"


def replace_for_you(user_id: int, ranked: list[tuple[int, list[dict]]]) -> None:
    """The user's For You becomes `ranked` (in order), their reasons kept for "why"."""
    fy, why = _key("fy", user_id), _key("why", user_id)
    n = len(ranked)
    pipe = client().pipeline()
    pipe.delete(fy)
    if ranked:
        pipe.zadd(fy, {str(vid): n - i for i, (vid, _) in enumerate(ranked)})
        pipe.hset(why, mapping={str(vid): json.dumps(reasons) for vid, reasons in ranked})
        pipe.expire(fy, FEED_TTL_SECONDS)
        pipe.expire(why, WHY_TTL_SECONDS)
    pipe.execute()


def take_for_you(user_id: int, count: int) -> tuple[list[int], int]:
    """Pop the next `count` videos of the user's For You; (ids in order, how many remain)."""
    fy = _key("fy", user_id)
    pipe = client().pipeline()
    pipe.zpopmax(fy, count)
    pipe.zcard(fy)
    popped, remaining = pipe.execute()
    return [int(member) for member, _ in popped], int(remaining)


def reasons_for(user_id: int, video_ids: list[int]) -> dict[int, list[dict]]:
    if not video_ids:
        return {}
    values = client().hmget(_key("why", user_id), [str(v) for v in video_ids])
    return {vid: json.loads(raw) for vid, raw in zip(video_ids, values, strict=True) if raw}


def mark_served(user_id: int, video_ids: list[int]) -> None:
    served = _key("served", user_id)
    now = time.time()
    pipe = client().pipeline()
    if video_ids:
        pipe.zadd(served, {str(v): now for v in video_ids})
    pipe.zremrangebyscore(served, "-inf", now - settings.FEED_SEEN_HOURS * 3600)
    pipe.expire(served, settings.FEED_SEEN_HOURS * 3600)
    pipe.zadd(ACTIVE_KEY, {str(user_id): now})
    pipe.execute()


def recently_served(user_id: int) -> set[int]:
    since = time.time() - settings.FEED_SEEN_HOURS * 3600
    return {int(v) for v in client().zrangebyscore(_key("served", user_id), since, "+inf")}


def active_users(*, since_seconds: float) -> list[int]:
    key = ACTIVE_KEY
    now = time.time()
    c = client()
    c.zremrangebyscore(key, "-inf", now - since_seconds)
    return [int(u) for u in c.zrangebyscore(key, now - since_seconds, "+inf")]


def claim_refill(user_id: int, seconds: int = 30) -> bool:
    """True for the first caller in `seconds` (so one refill is queued, not one per page)."""
    return bool(client().set(_key("refill", user_id), "1", nx=True, ex=seconds))


def release_refill(user_id: int) -> None:
    client().delete(_key("refill", user_id))


def cached_popular(region: str) -> list[tuple[int, list[dict]]] | None:
    raw = client().get(_key("popular", region))
    if raw is None:
        return None
    return [(int(vid), reasons) for vid, reasons in json.loads(raw)]


def cache_popular(region: str, ranked: list[tuple[int, list[dict]]]) -> None:
    client().set(
        _key("popular", region), json.dumps(ranked), ex=settings.FEED_POPULAR_CACHE_SECONDS
    )


def forget_user(user_id: int) -> None:
    client().delete(*(_key(k, user_id) for k in ("fy", "why", "served", "refill")))
    client().zrem(ACTIVE_KEY, str(user_id))


def flush_all() -> None:
    """Drop every feed key (tests: user ids restart with each test database)."""
    c = client()
    # ... and the anonymous pages kept in the Django cache (same Redis, the cache's prefix).
    for pattern in ("feed:*", "*:feed:anon-page:*"):
        keys = list(c.scan_iter(pattern, count=1000))
        if keys:
            c.delete(*keys)
    if not settings.REDIS_URL:
        from django.core.cache import cache

        cache.clear()


class _LocalStore:
    """The few Redis commands above, on dictionaries (one process, no Redis)."""

    def __init__(self):
        self.data: dict[str, Any] = {}
        self.lock = threading.RLock()

    # pipelines run each command at once and collect the results
    def pipeline(self):
        return _LocalPipeline(self)

    def delete(self, *keys):
        with self.lock:
            return sum(1 for k in keys if self.data.pop(k, None) is not None)

    def expire(self, key, seconds):
        return True

    def zadd(self, key, mapping):
        with self.lock:
            self.data.setdefault(key, {}).update({str(k): float(v) for k, v in mapping.items()})

    def zcard(self, key):
        return len(self.data.get(key, {}))

    def zpopmax(self, key, count):
        with self.lock:
            z = self.data.get(key, {})
            top = sorted(z.items(), key=lambda kv: -kv[1])[:count]
            for member, _ in top:
                del z[member]
            return top

    def zrem(self, key, member):
        with self.lock:
            self.data.get(key, {}).pop(str(member), None)

    def zremrangebyscore(self, key, low, high):
        with self.lock:
            z = self.data.get(key, {})
            hi = float(high)
            for member in [m for m, s in z.items() if s <= hi]:
                del z[member]

    def zrangebyscore(self, key, low, high):
        lo = float(low)
        return [
            m for m, s in sorted(self.data.get(key, {}).items(), key=lambda kv: kv[1]) if s >= lo
        ]

    def hset(self, key, mapping):
        with self.lock:
            self.data.setdefault(key, {}).update(mapping)

    def hmget(self, key, fields):
        h = self.data.get(key, {})
        return [h.get(f) for f in fields]

    def get(self, key):
        entry = self.data.get(key)
        if entry is None or entry[1] < time.time():
            return None
        return entry[0]

    def set(self, key, value, ex=None, nx=False):
        with self.lock:
            if nx and self.get(key) is not None:
                return None
            self.data[key] = (value, time.time() + (ex or 10**9))
            return True

    def scan_iter(self, pattern, count=None):
        prefix = pattern.rstrip("*")
        return [k for k in list(self.data) if k.startswith(prefix)]


class _LocalPipeline:
    def __init__(self, store: _LocalStore):
        self.store = store
        self.results: list = []

    def __getattr__(self, name):
        method = getattr(self.store, name)

        def call(*args, **kwargs):
            self.results.append(method(*args, **kwargs))
            return self

        return call

    def execute(self):
        results, self.results = self.results, []
        return results


_local = _LocalStore()
