"""What a client draws the room from: one snapshot for the live page's first render and for
each socket's "hello" (the same shapes as the protocol's events).

A hello is built from the database once and shared: the hub keeps each session's snapshot
(as JSON text) until an event that changes it goes by (a pin, a deal, the lineup, a purchase,
the session's start or end; chat and viewer counts do not) or LIVE_SNAPSHOT_SECONDS pass
(stock sold outside the live), and the frame for a given (event id, viewer count) is one
string and one set of WebSocket bytes for every joiner (live.room.upkeep)."""

import json
import time

from live import selectors
from live.chat.selectors import chat_history
from live.models import LiveSession
from live.selling.selectors import active_deal, deal_data

from .bus import get_bus

# Events that leave the snapshot as it was (anything else makes the next hello rebuild it).
# Gifts too: the hello's gift board comes from Redis beside the snapshot (live/gifting/room.py).
SNAPSHOT_NEUTRAL = frozenset(
    {
        "chat.message",
        "chat.deleted",
        "viewers",
        "moderation",
        "notice",
        "gift",
        "gift.end",
        "gift.goal",
    }
)


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
    last_id = get_bus().last_id(session.pk)
    data = room_snapshot(session, last_id=last_id)
    from live.gifting.room import board_now

    return {
        **data,
        "viewers": None,
        "chat": chat_history(session, upto=last_id),
        "gifts": board_now(session.pk),
    }


def socket_snapshot(*, session_id: int, last_id: int) -> dict:
    """What a socket needs to draw the room as of event `last_id` ("hello" minus viewers)."""
    session = LiveSession.objects.select_related("host").get(pk=session_id)
    return {**room_snapshot(session, last_id=last_id), "viewers": 0}


def snapshot_body(session_id: int) -> str:
    """A socket's hello data without `last_id` and `viewers`, as JSON text without its closing
    brace (hello_text() completes it)."""
    session = LiveSession.objects.select_related("host").get(pk=session_id)
    data = room_snapshot(session, last_id=0)
    del data["last_id"]
    return _dumps(data)[:-1]


def hello_text(body: str, *, event_id: int, viewers: int, gifts: str = "null") -> str:
    """`gifts`: the room's gift board (top gifters, goal) as JSON text."""
    return (
        f'{{"type":"hello","id":{event_id},"ts":{int(time.time() * 1000)},"data":{body},'
        f'"gifts":{gifts},"last_id":{event_id},"viewers":{viewers}}}}}'
    )


def _dumps(data) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str)
