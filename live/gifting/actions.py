"""Gift room actions (the live.room.actions registry): a viewer's `gift.send` runs on the event
loop (its debit in the gift threads, live/gifting/room.py); the host's goal actions run in a
thread like every other host action."""

from live.models import LiveSession
from live.room.actions import Reply, RoomContext, action
from shopfeed.errors import NotFound

from . import services


@action("gift.send", on_loop=True)
async def gift_send(ctx: RoomContext, payload: dict) -> Reply:
    from live.room.hub import get_hub

    from .room import gift_room

    return Reply("gift.ack", await gift_room(get_hub()).send(ctx, payload))


def _session(ctx: RoomContext) -> LiveSession:
    session = LiveSession.objects.filter(pk=ctx.session_id).first()
    if session is None:
        raise NotFound("This live session does not exist.")
    return session


@action("goal.set", host_only=True)
def goal_set(ctx: RoomContext, payload: dict) -> None:
    services.set_gift_goal(
        session=_session(ctx), by=ctx.user, coins=payload.get("coins"), title=payload.get("title")
    )


@action("goal.clear", host_only=True)
def goal_clear(ctx: RoomContext, payload: dict) -> None:
    services.clear_gift_goal(session=_session(ctx), by=ctx.user)
