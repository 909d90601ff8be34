"""Chat room actions (the live.room.actions registry): parse the frame, call a chat service."""

from live.models import ChatMessage, LiveSession
from live.room.actions import RoomContext, action
from shopfeed.errors import NotFound, ShopFeedError

from .services import delete_message, moderate, post_message


def _session(ctx: RoomContext) -> LiveSession:
    try:
        return LiveSession.objects.get(pk=ctx.session_id)
    except LiveSession.DoesNotExist:
        raise NotFound("This live does not exist.") from None


@action("chat.send")
def chat_send(ctx: RoomContext, payload: dict) -> None:
    post_message(session=_session(ctx), user=ctx.user, text=payload.get("text"))


@action("chat.delete", host_only=True)
def chat_delete(ctx: RoomContext, payload: dict) -> None:
    try:
        message_id = int(payload.get("message_id"))
    except (TypeError, ValueError):
        raise ShopFeedError("message_id is a message's id.", code="invalid") from None
    message = ChatMessage.objects.filter(pk=message_id, session_id=ctx.session_id).first()
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
