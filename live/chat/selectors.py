"""Chat reads the room shares: restrictions in force, the recent messages a page starts from."""

from django.utils import timezone

from live.models import ChatMessage, LiveSession, RoomRestriction
from shopfeed.accounts.models import User

CHAT_HISTORY = 50  # messages a live page shows before its socket connects


def active_restriction(*, host_id: int, user_id: int, kind: str) -> RoomRestriction | None:
    return (
        RoomRestriction.objects.filter(host_id=host_id, user_id=user_id, kind=kind)
        .exclude(until__lte=timezone.now())
        .first()
    )


def chat_history(session: LiveSession, *, upto: int | None = None) -> list[dict]:
    """The last CHAT_HISTORY messages still shown (with event ids up to `upto`), oldest first,
    as `chat.message` data; a message's id is its event's (the id `chat.delete` takes).

    Messages are stored a moment after they are shown (live.chat.log): the ones still in the
    Redis chat log are read first, then the table (a drain inserts before it trims, so every
    message is in one or the other at any time)."""
    pending = _pending(session.pk, upto)
    rows = list(
        ChatMessage.objects.filter(session=session, deleted_at__isnull=True)
        .select_related("user")
        .order_by("-created_at", "-id")[:CHAT_HISTORY]
    )
    stored = {m.uid.hex for m in rows if m.uid is not None}
    extra = [p for p in pending if p[3] not in stored]
    users = User.objects.in_bulk({p[1] for p in extra}) if extra else {}
    items = [
        {"id": m.event_id, "user": {"handle": m.user.handle, "name": m.user.name}, "text": m.text}
        for m in reversed(rows)
        if upto is None or m.event_id is None or m.event_id <= upto
    ]
    for event_id, user_id, text, _ in extra:
        user = users.get(user_id)
        if user is not None:
            items.append({"id": event_id, "user": {"handle": user.handle, "name": user.name},
                          "text": text})  # fmt: skip
    return items[-CHAT_HISTORY:]


def _pending(session_id: int, upto: int | None) -> list[tuple[int, int, str, str]]:
    """(event id, user id, text, uid) of the messages not drained into the table yet."""
    from django.conf import settings

    if not settings.REDIS_URL:
        return []
    from live.room.bus import RedisBus, get_bus

    from .log import log_key

    bus = get_bus()
    assert isinstance(bus, RedisBus)  # REDIS_URL is set
    rows: list[tuple[bytes, dict[bytes, bytes]]] = (
        bus.client.xrevrange(log_key(session_id), count=CHAT_HISTORY) or []  # type: ignore[assignment]  # redis-py's stubs do not know decode_responses=False
    )
    pending = [
        (int(fields[b"i"]), int(fields[b"u"]), fields[b"x"].decode(), fields[b"k"].decode())
        for _, fields in reversed(rows)
    ]
    return [p for p in pending if upto is None or p[0] <= upto]
