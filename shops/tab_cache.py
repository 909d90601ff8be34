"""The shopping tab API served from the cache behind a version number per shop: every write
that changes a card (product, variant, price, stock, image, tab order, shop status) moves the
shop's version, before its commit and again after it, so the next request reads fresh rows and
no request serves a page older than the last committed change.

Writes reach `changed()` two ways: saves and deletes of the card's models through the
receivers below (services, the admin), and explicit calls where rows change by queryset
update or bulk write (stock reservations in orders, the flash writer, the CSV import,
thumbnails, image and tab order).

With Redis (REDIS_URL) a request finds its page in one round trip, which also runs the API's
throttles: a Lua script counts the request, then follows handle -> shop -> version -> page.
The page is stored rendered (JSON bytes), in Redis and in a bounded copy per process that is
served only while the shop's version still names it. Without Redis, Django's cache holds the
same keys, a lookup at a time.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save

from shopfeed.throttling import THROTTLE_LUA_FUNCTION

from .models import Product, ProductImage, Shop, Variant

# ARGV: prefix, digest, a new version (when the shop has none), the key of the page this
# process holds for the digest ('' if none: a reply of code 3 says that copy is current), then
# the request's throttle checks (shopfeed.throttling), run first in the same round trip; their
# waits come back as the reply's first element.
_LOOKUP = (
    THROTTLE_LUA_FUNCTION
    + """
local waits = throttle_checks(5, #ARGV)
for _, w in ipairs(waits) do
  if w > 0 then return {waits, -1} end
end
local sid = redis.call('GET', KEYS[1])
if not sid then return {waits, 0} end
local v = redis.call('GET', ARGV[1] .. ':v:' .. sid)
if not v then
  v = ARGV[3]
  redis.call('SET', ARGV[1] .. ':v:' .. sid, v, 'NX')
  v = redis.call('GET', ARGV[1] .. ':v:' .. sid)
end
local key = ARGV[1] .. ':p:' .. sid .. ':' .. v .. ':' .. ARGV[2]
if key == ARGV[4] then return {waits, 3, sid, key} end
local page = redis.call('GET', key)
if not page then return {waits, 1, sid, key} end
return {waits, 2, sid, key, page}
"""
)


_FRAGMENTS = """
local sid = redis.call('GET', KEYS[1])
if not sid then return {0} end
local vk = ARGV[1] .. ':v:' .. sid
local v = redis.call('GET', vk)
if not v then
  redis.call('SET', vk, ARGV[2], 'NX')
  v = redis.call('GET', vk)
end
local pv = redis.call('GET', ARGV[1] .. ':pv:' .. sid) or '0'
local out = {1, sid}
for i = 3, #ARGV, 3 do
  local ver = v
  if ARGV[i + 2] == '1' then ver = v .. '.' .. pv end
  local key = ARGV[1] .. ':f:' .. ARGV[i] .. ':' .. sid .. ':' .. ver .. ':' .. ARGV[i + 1]
  table.insert(out, key)
  table.insert(out, redis.call('GET', key))
end
return out
"""


@dataclass(frozen=True)
class Found:
    shop_id: int | None  # None: the handle is not known to the cache
    key: str = ""  # where the page is (or goes)
    page: bytes | None = None
    waits: tuple[int, ...] = ()  # per throttle check: 0 counted, else ms to wait (nothing read)


def _prefix() -> str:
    return settings.SHOPPING_TAB_CACHE_PREFIX


def _digest(host: str, path: str) -> str:
    return hashlib.sha256(f"{host}\n{path}".encode()).hexdigest()[:32]


@lru_cache(maxsize=4)
def _redis(url: str):
    import redis
    from redis.maint_notifications import MaintNotificationsConfig

    client = redis.Redis.from_url(
        url, maint_notifications_config=MaintNotificationsConfig(enabled=False)
    )
    return client, client.register_script(_LOOKUP), client.register_script(_FRAGMENTS)


def _uses_redis() -> bool:
    return bool(settings.REDIS_URL)


# --- reads ---------------------------------------------------------------------------------


def shares_redis_with(cache) -> bool:
    """Whether this Django cache is the Redis database the tab cache uses (then a throttle
    check on it can run in the lookup's round trip)."""
    return _uses_redis() and getattr(cache, "_servers", None) == [settings.REDIS_URL]


class _LocalPages:
    """This process's copies of rendered pages (Redis only): digest -> (key, page, expiry).

    A copy is served only when the lookup script finds the shop's version still gives its key,
    so a write seen by any process shows in every process at the next request; the page's bytes
    then never cross the wire. Bounded (oldest out) and kept no longer than a page in Redis."""

    def __init__(self):
        self._pages: dict[str, tuple[str, bytes, float]] = {}
        self._lock = threading.Lock()

    def get(self, digest: str) -> tuple[str, bytes] | None:
        got = self._pages.get(digest)
        if got is None or got[2] < time.monotonic():
            return None
        return got[0], got[1]

    def put(self, key: str, page: bytes) -> None:
        digest = key.rpartition(":")[2]
        expires = time.monotonic() + settings.SHOPPING_TAB_CACHE_SECONDS
        with self._lock:
            self._pages.pop(digest, None)
            self._pages[digest] = (key, page, expires)
            while len(self._pages) > settings.SHOPPING_TAB_LOCAL_PAGES:
                self._pages.pop(next(iter(self._pages)))

    def clear(self) -> None:
        with self._lock:
            self._pages.clear()


local_pages = _LocalPages()


def lookup(*, handle: str, host: str, path: str, throttles: Iterable[list] = ()) -> Found:
    """The cached page of this request, or where to put it once built.

    `throttles`: checks of shopfeed.throttling run first in the same round trip (Redis only,
    see `shares_redis_with`); when one refuses, nothing else is read."""
    digest = _digest(host, path)
    if _uses_redis():
        client, script, _ = _redis(settings.REDIS_URL)
        handle_key = f"{_prefix()}:h:{handle.lower()}"
        held = local_pages.get(digest)
        args = [_prefix(), digest, time.time_ns(), held[0] if held else ""]
        args += [a for check in throttles for a in check]
        waits, code, *got = script(keys=[handle_key], args=args, client=client)
        waits = tuple(int(w) for w in waits)
        if code <= 0:
            return Found(shop_id=None, waits=waits)
        page = got[2] if code == 2 else held[1] if code == 3 and held else None
        if code == 2:
            local_pages.put(got[1].decode(), page)
        return Found(shop_id=int(got[0]), key=got[1].decode(), page=page, waits=waits)
    if throttles:
        raise ValueError("throttle checks run in the lookup only with Redis")
    shop_id = cache.get(f"{_prefix()}:h:{handle.lower()}")
    if shop_id is None:
        return Found(shop_id=None)
    cache.add(f"{_prefix()}:v:{shop_id}", time.time_ns(), timeout=None)
    version = cache.get(f"{_prefix()}:v:{shop_id}")
    key = f"{_prefix()}:p:{shop_id}:{version}:{digest}"
    return Found(shop_id=shop_id, key=key, page=cache.get(key))


def remember_shop(handle: str, shop_id: int) -> None:
    # A handle that moves to another user is followed within this time.
    key, ttl = f"{_prefix()}:h:{handle.lower()}", settings.SHOPPING_TAB_HANDLE_SECONDS
    if _uses_redis():
        _redis(settings.REDIS_URL)[0].set(key, shop_id, ex=ttl)
    else:
        cache.set(key, shop_id, timeout=ttl)


def put_page(key: str, page: bytes) -> None:
    ttl = settings.SHOPPING_TAB_CACHE_SECONDS
    if _uses_redis():
        _redis(settings.REDIS_URL)[0].set(key, page, ex=ttl)
        local_pages.put(key, page)
    else:
        cache.set(key, page, timeout=ttl)


# --- fragments of the shopper pages ------------------------------------------------------------
# The profile's shopping tab and the product page keep their rendered, same-for-everyone parts
# under the same shop version as the tab API, so the same writes make them stale.


def shop_id_for(handle: str) -> int | None:
    """The shop of this creator handle as the cache knows it (None: ask the database)."""
    key = f"{_prefix()}:h:{handle.lower()}"
    if _uses_redis():
        got = _redis(settings.REDIS_URL)[0].get(key)
        return int(got) if got is not None else None
    return cache.get(key)


def profile_changed(shop_id: int) -> None:
    def bump() -> None:
        key, version = f"{_prefix()}:pv:{shop_id}", time.time_ns()
        if _uses_redis():
            _redis(settings.REDIS_URL)[0].set(key, version)
        else:
            cache.set(key, version, timeout=None)

    bump()
    transaction.on_commit(bump, robust=True)


@dataclass(frozen=True)
class Fragments:
    shop_id: int | None  # None: the handle is not known to the cache (nothing else is set)
    keys: dict[str, str]  # where each fragment is (or goes) at the versions read now
    found: dict[str, bytes | None]


def fragments(handle: str, wanted: dict[str, tuple[tuple[str, ...], bool]]) -> Fragments:
    """Several fragments of one creator's pages: with Redis in one round trip (a Lua script
    follows handle -> shop -> versions -> pages, as `lookup` does for the tab).

    `wanted` maps a fragment's name to the parts of its key and whether it also follows the
    profile version (see `profile_changed`)."""
    digests = {
        name: hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]
        for name, (parts, _) in wanted.items()
    }
    if _uses_redis():
        client, _, script = _redis(settings.REDIS_URL)
        args: list = [_prefix(), time.time_ns()]
        for name, (_, follows_profile) in wanted.items():
            args += [name, digests[name], "1" if follows_profile else "0"]
        got = script(keys=[f"{_prefix()}:h:{handle.lower()}"], args=args, client=client)
        if got[0] == 0:
            return Fragments(shop_id=None, keys={}, found={})
        pairs = list(zip(wanted, zip(got[2::2], got[3::2], strict=True), strict=True))
        return Fragments(
            shop_id=int(got[1]),
            keys={name: key.decode() for name, (key, _) in pairs},
            found={name: page for name, (_, page) in pairs},
        )
    shop_id = shop_id_for(handle)
    if shop_id is None:
        return Fragments(shop_id=None, keys={}, found={})
    vkey, pvkey = f"{_prefix()}:v:{shop_id}", f"{_prefix()}:pv:{shop_id}"
    cache.add(vkey, time.time_ns(), timeout=None)
    versions = cache.get_many([vkey, pvkey])
    v, pv = versions.get(vkey), versions.get(pvkey) or 0
    keys = {
        name: f"{_prefix()}:f:{name}:{shop_id}:{v}{f'.{pv}' if follows else ''}:{digests[name]}"
        for name, (_, follows) in wanted.items()
    }
    got_pages = cache.get_many(list(keys.values()))
    return Fragments(
        shop_id=shop_id, keys=keys, found={name: got_pages.get(key) for name, key in keys.items()}
    )


def put_fragment(key: str, html: bytes, *, ttl: int | None = None) -> None:
    ttl = ttl or settings.SHOPPING_TAB_CACHE_SECONDS
    if _uses_redis():
        _redis(settings.REDIS_URL)[0].set(key, html, ex=ttl)
    else:
        cache.set(key, html, timeout=ttl)


# --- writes ----------------------------------------------------------------------------------


def changed(shop_ids: int | Iterable[int]) -> None:
    """A card of these shops changed: their tabs are read afresh."""
    ids = {shop_ids} if isinstance(shop_ids, int) else set(shop_ids)
    if ids:
        # Now, so that this transaction's own next read misses too; and after the commit,
        # since a request meanwhile may have cached the rows as they were before it.
        _bump(ids)
        transaction.on_commit(lambda: _bump(ids), robust=True)


def _bump(shop_ids: set[int]) -> None:
    version = time.time_ns()
    keys = {f"{_prefix()}:v:{sid}": version for sid in shop_ids}
    if _uses_redis():
        _redis(settings.REDIS_URL)[0].mset(keys)
    else:
        cache.set_many(keys, timeout=None)


def _on_write(sender, instance, **kwargs) -> None:
    if isinstance(instance, Shop):
        changed(instance.pk)
    elif isinstance(instance, Product | Variant):
        changed(instance.shop_id)
    elif isinstance(instance, ProductImage):
        shop_id = Product.objects.filter(pk=instance.product_id).values_list("shop_id", flat=True)
        changed(list(shop_id))


def connect() -> None:
    """shops/apps.py calls this at startup: saves and deletes of what a card shows."""
    for model in (Shop, Product, Variant, ProductImage):
        post_save.connect(_on_write, sender=model, dispatch_uid=f"tab_cache.save.{model.__name__}")
        post_delete.connect(
            _on_write, sender=model, dispatch_uid=f"tab_cache.delete.{model.__name__}"
        )
