"""Short-lived, single-use tickets that open a WebSocket as a user.

A WebSocket URL ends up in access logs and browser history, so it must not carry a lasting
secret. A client that cannot send its session cookie or an `Authorization` header asks the API
for a ticket (`POST /api/v1/live/ws-ticket/`) and connects with `?ticket=<it>` within
WS_TICKET_SECONDS; the first connect uses it up. Tickets live in the default cache (Redis in
production, shared by the HTTP and WebSocket processes).
"""

import secrets

from django.conf import settings
from django.core.cache import cache

_PREFIX = "ws-ticket:"


def ticket_lifetime() -> int:
    return settings.WS_TICKET_SECONDS


def issue_ticket(*, user) -> str:
    ticket = secrets.token_urlsafe(32)
    cache.set(_PREFIX + ticket, user.pk, timeout=ticket_lifetime())
    return ticket


def redeem_ticket(ticket: str) -> int | None:
    """The ticket's user id, once: of two connects racing with one ticket, one wins."""
    if not ticket or len(ticket) > 100:
        return None
    key = _PREFIX + ticket
    user_id = cache.get(key)
    # delete() answers whether this caller removed the key, so it is the atomic step.
    if user_id is None or not cache.delete(key):
        return None
    return user_id
