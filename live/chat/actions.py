"""Chat room actions (the live.room.actions registry): parse the frame, call a chat service.

`chat.send` runs on the event loop (no database thread: the room's cached state and one Redis
script); moderation runs in a thread like every other host action."""

from django.conf import settings

from live.models import ChatMessage, LiveSession
from live.room.actions import RoomContext, action
from shopfeed.errors import NotFound, ShopFeedError

from .log import flush_chat_log
from .services import delete_message, moderate, send_message


def _session(ctx: RoomContext) -> LiveSession:
    try:
        return LiveSession.objects.get(pk=ctx.session_id)
    except LiveSession.DoesNotExist:
        raise NotFound("This live does not exist.") from None


@action("chat.send", on_loop=True)
async def chat_send(ctx: RoomContext, payload: dict) -> None:
    from live.room.hub import get_hub

    upkeep = get_hub().upkeep
    state = await upkeep.admission_state(ctx.session_id)
    if state is None:
        raise NotFound("This live does not exist.")
    from live.gifting.room import gift_room

    gift_room(get_hub()).refresh_level(ctx, state.host_id)  # in the background, for later ones
    await send_message(log=upkeep.chat_log(), state=state, user=ctx.user, text=payload.get("text"))


@action("chat.delete", host_only=True)
def chat_delete(ctx: RoomContext, payload: dict) -> None:
    try:
        message_id = int(payload.get("message_id"))
    except (TypeError, ValueError):
        raise ShopFeedError("message_id is a message's id.", code="invalid") from None
    if settings.REDIS_URL:
        flush_chat_log(ctx.session_id)  # a message sent a moment ago may not be stored yet
    message = (
        ChatMessage.objects.filter(event_id=message_id, session_id=ctx.session_id)
        .order_by("-id")  # ids start again if Redis lost its data: the newest is the one shown
        .first()
    )
    if message is None:
        raise NotFound("No such message in this live.")
    delete_message(message=message, by=ctx.user)


@action("moderate", host_only=True)
def moderate_viewer(ctx: RoomContext, payload: dict) -> None:
    moderate(
        session=_session(ctx),
        by=ctx.user,
        handle=payload.get("user"),
        kind=payload.get("kind"),
        minutes=payload.get("minutes"),
    )
