"""Chat reads the room shares: restrictions in force, the recent messages a page starts from."""

from django.utils import timezone

from live.models import ChatMessage, LiveSession, RoomRestriction

CHAT_HISTORY = 50  # messages a live page shows before its socket connects


def active_restriction(*, host_id: int, user_id: int, kind: str) -> RoomRestriction | None:
    return (
        RoomRestriction.objects.filter(host_id=host_id, user_id=user_id, kind=kind)
        .exclude(until__lte=timezone.now())
        .first()
    )


def chat_history(session: LiveSession) -> list[dict]:
    """The last CHAT_HISTORY messages still shown, oldest first, as `chat.message` data."""
    rows = (
        ChatMessage.objects.filter(session=session, deleted_at__isnull=True)
        .select_related("user")
        .order_by("-created_at", "-id")[:CHAT_HISTORY]
    )
    return [
        {"id": m.pk, "user": {"handle": m.user.handle, "name": m.user.name}, "text": m.text}
        for m in reversed(rows)
    ]
