"""Who a socket is, without database work per join for a user seen recently.

Channels' AuthMiddleware reads the session and the user through its one database thread for
every socket: two queries and a thread hop per signed-in join, queued behind each other when a
popular host goes live. Here a credential (a session cookie, an `Authorization: Token`, a
ticket) is resolved on the event loop with ONE Redis round trip from a summary of its user
(`ws-auth:<kind>:<sha256 of the credential>` -> id, handle, names, flags), read on an asyncio
client. Only a credential not seen for WS_AUTH_CACHE_SECONDS costs the database (Django's own
session store and auth backend, in a worker thread; joins with the same credential wait for
the one lookup), and the summary it produces is kept for the next join.

What stops working, and when:
- logging out: its session's summary is deleted at once (`user_logged_out`);
- a user saved or deleted (password changed, deactivated, staff flag, handle) and an API token
  deleted or replaced: every summary of that user goes at once, after the commit too. A
  per-user generation number keeps a lookup that read the old row from storing it afterwards;
- anything no signal announces (a session row deleted by hand or by `clearsessions`, a
  queryset `.update()` of users): within WS_AUTH_CACHE_SECONDS (60 s by default);
- an unknown or anonymous credential is remembered as such for a few seconds only.
Banned viewers are refused by the room (live.room.admission), from the handle given here.

The user handed to the consumer is a real `User` instance built from the summary
(`Model.from_db` with the summary's fields): the room's hot path reads only those, and a
service that needs another field (run in a database thread) loads it on first access.

Without Redis (the embedded default) every credential is resolved through the database.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from importlib import import_module

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import (
    BACKEND_SESSION_KEY,
    HASH_SESSION_KEY,
    SESSION_KEY,
    get_user_model,
    load_backend,
    user_logged_out,
)
from django.core.cache import caches
from django.db import DEFAULT_DB_ALIAS, close_old_connections, connections, transaction
from django.db.models import DEFERRED
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils.crypto import constant_time_compare

logger = logging.getLogger(__name__)

# What the room needs of a user, in this order in a summary.
FIELDS = (
    "id",
    "username",
    "handle",
    "display_name",
    "is_active",
    "is_staff",
    "is_superuser",
    "is_creator",
)
ANONYMOUS = ""  # the summary of a credential that names no (active) user
ANONYMOUS_SECONDS = 5

# KEYS: the summary, the user's key set, the user's generation.
# ARGV: summary, TTL (s), the generation read before the database, or "" (no check).
_STORE = """
if ARGV[3] ~= '' and (redis.call('GET', KEYS[3]) or '0') ~= ARGV[3] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
if KEYS[2] ~= '' then
  redis.call('SADD', KEYS[2], KEYS[1])
  redis.call('EXPIRE', KEYS[2], 86400)
end
return 1
"""
# KEYS: the user's key set, the user's generation. Deletes every summary of the user.
_FORGET_USER = """
redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], 86400)
local keys = redis.call('SMEMBERS', KEYS[1])
for i = 1, #keys do redis.call('DEL', keys[i]) end
redis.call('DEL', KEYS[1])
return #keys
"""


def cache_seconds() -> int:
    return int(getattr(settings, "WS_AUTH_CACHE_SECONDS", 60))


def _cache():
    return caches["default"]


def _redis_cache():
    from django.core.cache.backends.redis import RedisCache

    cache = _cache()
    return cache if isinstance(cache, RedisCache) else None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def credential_key(kind: str, secret: str) -> str:
    """The summary's key for a credential (the secret itself is never stored as a key)."""
    return _cache().make_and_validate_key(f"ws-auth:{kind}:{_digest(secret)}")


def _user_keys(user_id: int) -> tuple[str, str]:
    cache = _cache()
    return (
        cache.make_and_validate_key(f"ws-auth:user:{user_id}:keys"),
        cache.make_and_validate_key(f"ws-auth:user:{user_id}:gen"),
    )


# --- summaries ---------------------------------------------------------------------------------


def summary_of(user) -> str:
    return json.dumps([getattr(user, name) for name in FIELDS], separators=(",", ":"))


def user_from(summary: str):
    """A User instance from a summary; other fields load from the database when read."""
    User = get_user_model()
    data = dict(zip(FIELDS, json.loads(summary), strict=True))
    # from_db wants every concrete field, in the model's order; DEFERRED ones load on access.
    values = [data.get(f.attname, DEFERRED) for f in User._meta.concrete_fields]
    return User.from_db(DEFAULT_DB_ALIAS, [f.attname for f in User._meta.concrete_fields], values)


# --- the database side (a worker thread, on a miss) --------------------------------------------


def _generation(user_id: int) -> str:
    client = _cache()._cache.get_client(write=False)
    return (client.get(_user_keys(user_id)[1]) or b"0").decode()


def _session_user(session_key: str):
    """The active user a session names, verified as django.contrib.auth.get_user verifies it
    (the session's password hash, or one made with a SECRET_KEY_FALLBACKS key); read-only."""
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    try:
        user_id = get_user_model()._meta.pk.to_python(store[SESSION_KEY])
        backend_path = store[BACKEND_SESSION_KEY]
    except KeyError:
        return None
    if backend_path not in settings.AUTHENTICATION_BACKENDS:
        return None
    user = load_backend(backend_path).get_user(user_id)
    if user is None:
        return None
    session_hash = store.get(HASH_SESSION_KEY)
    if not session_hash:
        return None
    hashes = [user.get_session_auth_hash(), *user.get_session_auth_fallback_hash()]
    if not any(constant_time_compare(session_hash, h) for h in hashes):
        return None
    return user


def _token_user(key: str):
    from rest_framework.authtoken.models import Token

    token = Token.objects.select_related("user").filter(key=key).first()
    if token is None or not token.user.is_active:
        return None
    return token.user


_RESOLVERS = {"s": _session_user, "t": _token_user}


def _resolve(kind: str, secret: str) -> str:
    """Look the credential up in the database and keep its summary (a worker thread)."""
    close_old_connections()
    try:
        redis_cache = _redis_cache()
        user = _RESOLVERS[kind](secret)
        if user is None:
            summary = ANONYMOUS
            if redis_cache is not None:
                redis_cache._cache.get_client(write=True).set(
                    credential_key(kind, secret), summary, ex=ANONYMOUS_SECONDS
                )
            return summary
        summary = summary_of(user)
        if redis_cache is not None:
            # The generation is read after the row: a change committed before the read bumped
            # it already; one committed after bumps it again and the store below is refused,
            # or comes first and is deleted by it.
            generation = _generation(user.pk)
            user_set, user_gen = _user_keys(user.pk)
            client = redis_cache._cache.get_client(write=True)
            client.eval(
                _STORE,
                3,
                credential_key(kind, secret),
                user_set,
                user_gen,
                summary,
                cache_seconds(),
                generation,
            )
        return summary
    finally:
        # A worker thread of the default executor: give its connection back (to the pool, in
        # the ASGI process), or it would stay open with the thread.
        connections.close_all()


# --- the event loop side -----------------------------------------------------------------------

_inflight: dict[tuple[str, str], asyncio.Future] = {}


async def user_for(kind: str, secret: str):
    """The user a credential names ("s" session key, "t" API token), None when it names none.
    One Redis GET when seen recently; else one database lookup shared by concurrent joins."""
    redis_cache = _redis_cache()
    if redis_cache is not None:
        from shopfeed.throttling import async_redis

        raw = await async_redis(redis_cache).get(credential_key(kind, secret))
        if raw is not None:
            return user_from(raw.decode()) if raw else None
    summary = await _shared_lookup(kind, secret)
    return user_from(summary) if summary else None


async def _shared_lookup(kind: str, secret: str) -> str:
    key = (kind, _digest(secret))
    future = _inflight.get(key)
    if future is None:
        future = asyncio.ensure_future(
            sync_to_async(_resolve, thread_sensitive=False)(kind, secret)
        )
        _inflight[key] = future
        future.add_done_callback(lambda _f: _inflight.pop(key, None))
    return await asyncio.shield(future)


# --- forgetting ----------------------------------------------------------------------------------


def forget_user(user_id: int) -> None:
    """Delete every summary of a user (sessions, tokens, tickets) now and after the commit."""
    if _redis_cache() is None:
        return
    _forget_now(user_id)
    transaction.on_commit(lambda: _forget_now(user_id))


def _forget_now(user_id: int) -> None:
    try:
        client = _cache()._cache.get_client(write=True)
        client.eval(_FORGET_USER, 2, *_user_keys(user_id))
    except Exception:  # the summaries still expire on their own
        logger.exception("ws identity: could not forget the summaries of user %s", user_id)


def forget_credential(kind: str, secret: str) -> None:
    if _redis_cache() is None or not secret:
        return
    try:
        _cache()._cache.get_client(write=True).delete(credential_key(kind, secret))
    except Exception:
        logger.exception("ws identity: could not forget a credential")


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="ws_identity_user_saved")
@receiver(post_delete, sender=settings.AUTH_USER_MODEL, dispatch_uid="ws_identity_user_gone")
def _user_changed(sender, instance, **kwargs) -> None:
    if not kwargs.get("created"):
        forget_user(instance.pk)


@receiver(user_logged_out, dispatch_uid="ws_identity_logged_out")
def _logged_out(sender, request, user, **kwargs) -> None:
    session = getattr(request, "session", None)
    key = getattr(session, "session_key", None)
    if key:
        forget_credential("s", key)


def _token_gone(sender, instance, **kwargs) -> None:
    forget_credential("t", instance.key)
    forget_user(instance.user_id)


def connect_token_signals() -> None:
    from rest_framework.authtoken.models import Token

    post_delete.connect(_token_gone, sender=Token, dispatch_uid="ws_identity_token_gone")
