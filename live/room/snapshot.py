"""What a client draws the room from: one snapshot for the live page's first render and for
each socket's "hello" (the same shapes as the protocol's events)."""

import time

from channels.db import database_sync_to_async

from live import selectors
from live.chat.selectors import chat_history
from live.models import LiveSession
from live.selling.selectors import active_deal, deal_data

from .bus import get_bus

SNAPSHOT_TTL = 2.0  # seconds a session's snapshot may be reused while no event happened


def room_snapshot(session: LiveSession, *, last_id: int) -> dict:
    """What a client draws the room from as of event `last_id` (the "hello" event's data,
    without the viewer count): the live page's first render and each socket's hello."""
    lineup = selectors.lineup_cards(session)
    pinned = next((c for c in lineup if c["id"] == session.pinned_product_id), None)
    if pinned is None and session.pinned_product_id:
        pinned = selectors.pinned_card(session)
    deal = active_deal(session_id=session.pk)
    return {
        "session": {
            "id": session.pk,
            "title": session.title,
            "status": session.status,
            "host": {"handle": session.host.handle, "name": session.host.name},
        },
        "pinned": pinned,
        "lineup": lineup,
        "deal": deal_data(deal) if deal else None,
        "last_id": last_id,
    }


def page_snapshot(session: LiveSession) -> dict:
    """What the page starts from before the socket's "hello"."""
    # Read the bus position first: the socket resumes from it, so nothing after it is lost.
    data = room_snapshot(session, last_id=get_bus().last_id(session.pk))
    return {**data, "viewers": None, "chat": chat_history(session)}


def socket_snapshot(*, session_id: int, last_id: int) -> dict:
    """What a socket needs to draw the room as of event `last_id` ("hello" minus viewers)."""
    session = LiveSession.objects.select_related("host").get(pk=session_id)
    return {**room_snapshot(session, last_id=last_id), "viewers": 0}


# A burst of viewers joining between two events gets the same snapshot: one build, not one each.
_snapshots: dict[int, tuple[int, float, dict]] = {}


async def cached_snapshot(session_id: int, last_id: int) -> dict:
    cached = _snapshots.get(session_id)
    if cached and cached[0] == last_id and time.monotonic() - cached[1] < SNAPSHOT_TTL:
        return dict(cached[2])
    data = await database_sync_to_async(socket_snapshot)(session_id=session_id, last_id=last_id)
    now = time.monotonic()
    if len(_snapshots) > 1000:
        for stale in [k for k, v in _snapshots.items() if now - v[1] > SNAPSHOT_TTL]:
            del _snapshots[stale]
    _snapshots[session_id] = (last_id, now, data)
    return dict(data)
