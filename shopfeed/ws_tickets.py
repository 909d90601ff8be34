"""Short-lived, single-use tickets that open a WebSocket as a user.

A WebSocket URL ends up in access logs and browser history, so it must not carry a lasting
secret. A client that cannot send its session cookie or an `Authorization` header asks the API
for a ticket (`POST /api/v1/live/ws-ticket/`) and connects with `?ticket=<it>` within
WS_TICKET_SECONDS; the first connect uses it up. Tickets live in the default cache (Redis in
production, shared by the HTTP and WebSocket processes). With Redis a ticket holds its user's
summary (shopfeed.ws_identity) and is redeemed on the event loop with one GETDEL: no database
work when the socket opens; it is one of the user's summaries, so deactivating the user or
changing their password voids it too.
"""

import json
import secrets

from django.conf import settings
from django.core.cache import cache

from shopfeed import ws_identity

_PREFIX = "ws-ticket:"


def ticket_lifetime() -> int:
    return settings.WS_TICKET_SECONDS


def _key(ticket: str) -> str:
    return ws_identity.credential_key("ticket", ticket)


def issue_ticket(*, user) -> str:
    ticket = secrets.token_urlsafe(32)
    redis_cache = ws_identity._redis_cache()
    if redis_cache is None:
        cache.set(_PREFIX + ticket, user.pk, timeout=ticket_lifetime())
        return ticket
    user_set, user_gen = ws_identity._user_keys(user.pk)
    client = redis_cache._cache.get_client(write=True)
    summary = ws_identity.summary_of(user)
    keys = (_key(ticket), user_set, user_gen)
    client.eval(ws_identity._STORE, 3, *keys, summary, ticket_lifetime(), "")
    return ticket


def _usable(ticket: str) -> bool:
    return bool(ticket) and len(ticket) <= 100


def redeem_ticket(ticket: str) -> int | None:
    """The ticket's user id, once: of two connects racing with one ticket, one wins."""
    if not _usable(ticket):
        return None
    redis_cache = ws_identity._redis_cache()
    if redis_cache is not None:
        raw = redis_cache._cache.get_client(write=True).getdel(_key(ticket))
        return json.loads(raw)[0] if raw else None
    key = _PREFIX + ticket
    user_id = cache.get(key)
    # delete() answers whether this caller removed the key, so it is the atomic step.
    if user_id is None or not cache.delete(key):
        return None
    return user_id


async def aredeem_ticket(ticket: str):
    """The ticket's user (a User built from its summary), once; None for an unknown, used or
    expired ticket. With Redis: one GETDEL on the event loop."""
    if not _usable(ticket):
        return None
    redis_cache = ws_identity._redis_cache()
    if redis_cache is None:
        from asgiref.sync import sync_to_async
        from django.contrib.auth import get_user_model

        def load():
            from django.db import connections

            try:
                user_id = redeem_ticket(ticket)
                if user_id is None:
                    return None
                return get_user_model().objects.filter(pk=user_id, is_active=True).first()
            finally:
                connections.close_all()  # a pool thread: do not keep its connection open

        return await sync_to_async(load, thread_sensitive=False)()
    from shopfeed.throttling import async_redis

    raw = await async_redis(redis_cache).getdel(_key(ticket))
    return ws_identity.user_from(raw.decode()) if raw else None
