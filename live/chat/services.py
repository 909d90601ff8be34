"""Room chat and its moderation (the room actions that call these are in live/chat/actions.py).

Every message is kept (a deleted one only gets `deleted_at`/`deleted_by`) so staff can review
it in the admin. Rules, checked here whatever the client sends: signed in; not banned or
muted by the host (a restriction with `until` ends by itself); at most LIVE_CHAT_MAX_LENGTH
characters; none of the shop's blocked words; at most LIVE_CHAT_RATE messages per user every
LIVE_CHAT_RATE_WINDOW seconds (a token bucket in Redis, so across processes; Channels has no
throttle of its own).

Sending is on the room's hot path: it is checked against the room's cached state
(live.room.state) and then published, logged and rate-limited in one Redis round trip
(live.chat.log), with no database work; the message is stored within seconds, in a batch. A
message's id is the id of the room event that carried it.
"""

from __future__ import annotations

import time
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from live.broadcast import publish
from live.models import ChatMessage, LiveSession, RoomRestriction
from live.room.state import RoomState
from shopfeed.accounts.models import User
from shopfeed.errors import Conflict, NotAllowed, NotFound, ShopFeedError

from .log import RateLimited

__all__ = ["RateLimited", "check_message", "delete_message", "moderate", "send_message"]

MAX_RESTRICTION_MINUTES = 60 * 24 * 365


def max_length() -> int:
    field_limit = ChatMessage._meta.get_field("text").max_length
    return min(settings.LIVE_CHAT_MAX_LENGTH, field_limit)


def _is_host_or_staff(session: LiveSession, user) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    return user.pk == session.host_id or bool(user.is_staff)


def _check_restrictions(state: RoomState, user) -> None:
    for kind, what in ((RoomRestriction.Kind.BAN, "banned"), (RoomRestriction.Kind.MUTE, "muted")):
        restricted, until = state.restriction(user.handle, kind)
        if restricted:
            until_text = f" until {until:%Y-%m-%d %H:%M} UTC" if until else ""
            raise NotAllowed(f"You are {what} in this host's lives{until_text}.", code=what)


def _clean_text(text) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ShopFeedError("Write a message first.", code="empty", field="text")
    text = text.strip()
    limit = max_length()
    if len(text) > limit:
        raise ShopFeedError(
            f"Messages are at most {limit} characters (this one has {len(text)}).",
            code="too_long",
            field="text",
        )
    return text


def _clock() -> float:
    return time.time()


def check_rate(*, user_id: int) -> None:
    """Without Redis (one process): count one message in the cache, refuse past LIVE_CHAT_RATE
    in the current (fixed) window."""
    window, rate = settings.LIVE_CHAT_RATE_WINDOW, settings.LIVE_CHAT_RATE
    now = _clock()
    bucket = int(now // window)
    key = f"live:chat-rate:{user_id}:{bucket}"
    cache.add(key, 0, timeout=window + 1)
    try:
        sent = cache.incr(key)
    except ValueError:  # the key expired between add and incr
        cache.set(key, 1, timeout=window + 1)
        sent = 1
    if sent > rate:
        wait = max(1, int((bucket + 1) * window - now + 0.999))
        raise RateLimited(
            f"Slow down: at most {rate} messages every {window} seconds. Try again in {wait} s."
        )


def check_message(*, state: RoomState, user, text) -> str:
    """The message as it will be posted, or the domain error that refuses it."""
    if not getattr(user, "is_authenticated", False):
        raise NotAllowed("Log in to chat.", code="login_required")
    text = _clean_text(text)
    if state.status == LiveSession.Status.ENDED:
        raise Conflict("This live has ended; its chat is closed.", code="session_ended")
    _check_restrictions(state, user)
    word = state.blocked_word_in(text)
    if word is not None:
        raise ShopFeedError(
            f"This shop does not allow “{word}” in its chat. Edit your message and send it again.",
            code="blocked_word",
            field="text",
        )
    return text


async def send_message(*, log, state: RoomState, user, text) -> int:
    """Post a chat message to the room through `log` (live.chat.log: one Redis script, no
    database work); returns its id (its event's id)."""
    text = check_message(state=state, user=user, text=text)
    return await log.post(session_id=state.session_id, user=user, text=text)


@transaction.atomic
def delete_message(*, message: ChatMessage, by) -> ChatMessage:
    """Hide a message from the room (kept for moderation); deleting twice changes nothing."""
    message = ChatMessage.objects.select_for_update().select_related("session").get(pk=message.pk)
    if not _is_host_or_staff(message.session, by):
        raise NotAllowed("Only the host can delete messages.", code="host_only")
    if message.deleted_at is not None:
        return message
    message.deleted_at = timezone.now()
    message.deleted_by = by
    message.save(update_fields=["deleted_at", "deleted_by"])
    publish(message.session_id, "chat.deleted", {"message_id": message.event_id or message.pk})
    return message


MODERATION_KINDS = {
    "mute": (RoomRestriction.Kind.MUTE, True),
    "ban": (RoomRestriction.Kind.BAN, True),
    "unmute": (RoomRestriction.Kind.MUTE, False),
    "unban": (RoomRestriction.Kind.BAN, False),
}


def _clean_minutes(minutes) -> int | None:
    if minutes in (None, ""):
        return None
    if isinstance(minutes, bool):
        minutes = None
    try:
        minutes = int(minutes)
    except (TypeError, ValueError):
        minutes = 0
    if not 1 <= minutes <= MAX_RESTRICTION_MINUTES:
        raise ShopFeedError(
            f"minutes is a whole number from 1 to {MAX_RESTRICTION_MINUTES}, or empty for "
            "until lifted.",
            code="invalid",
            field="minutes",
        )
    return minutes


@transaction.atomic
def moderate(
    *, session: LiveSession, by, handle, kind: str, minutes=None
) -> RoomRestriction | None:
    """Mute or ban a viewer across the host's lives (optionally for `minutes`), or lift it.

    A ban also closes the viewer's open sockets in this room (the room hub sees the event)."""
    if not _is_host_or_staff(session, by):
        raise NotAllowed("Only the host can moderate this live.", code="host_only")
    if kind not in MODERATION_KINDS:
        raise ShopFeedError(
            "kind is one of mute, ban, unmute, unban.", code="invalid", field="kind"
        )
    restriction_kind, imposing = MODERATION_KINDS[kind]
    minutes = _clean_minutes(minutes) if imposing else None
    handle = handle.lstrip("@").strip() if isinstance(handle, str) else ""
    target = User.objects.filter(handle__iexact=handle).first() if handle else None
    if target is None:
        raise NotFound(f"No viewer @{handle}." if handle else "Say which viewer.", code="no_user")
    if target.pk == session.host_id:
        raise NotAllowed("The host cannot be muted or banned.", code="host_protected")
    restriction = until = None
    if imposing:
        until = timezone.now() + timedelta(minutes=minutes) if minutes else None
        restriction, _ = RoomRestriction.objects.update_or_create(
            host_id=session.host_id,
            user=target,
            kind=restriction_kind,
            defaults={"until": until, "created_by": by},
        )
    else:
        RoomRestriction.objects.filter(
            host_id=session.host_id, user=target, kind=restriction_kind
        ).delete()
    # Every process serving the room applies this to its cached state (live.room.state).
    data: dict[str, str | None] = {"user": target.handle, "kind": kind}
    if imposing:
        data["until"] = until.isoformat() if until else None
    publish(session.pk, "moderation", data)
    return restriction
