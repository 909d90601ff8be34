"""Room actions only the host (or staff) may send: pin, deals, notices, ending the session.

live.room.actions.dispatch has already refused anyone else; these parse the payload, load rows
of this session only, and call the services (which check the host again).
"""

from live.models import FlashDeal, LiveSession
from live.room.actions import RoomContext, action
from live.stream import services as sessions
from shopfeed.errors import NotFound, ShopFeedError
from shops.models import Product

from . import services as selling
from .selectors import deal_data


def _session(ctx: RoomContext) -> LiveSession:
    session = LiveSession.objects.filter(pk=ctx.session_id).first()
    if session is None:
        raise NotFound("This live session does not exist.")
    return session


def _field(payload: dict, name: str):
    if not isinstance(payload, dict) or name not in payload:
        raise ShopFeedError(f"Missing {name}.", code="bad_payload", field=name)
    return payload[name]


def _whole(payload: dict, name: str) -> int:
    value = _field(payload, name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ShopFeedError(f"{name} must be a whole number.", code="bad_payload", field=name)
    return value


def _product(session: LiveSession, payload: dict) -> Product:
    product_id = _whole(payload, "product_id")
    product = Product.objects.select_related("shop", "shop__owner").filter(pk=product_id).first()
    if product is None or product.shop_id != session.shop_id:
        raise NotFound("No such product in this shop.", code="product_not_found")
    return product


@action("pin", host_only=True)
def pin(ctx: RoomContext, payload: dict) -> dict:
    session = _session(ctx)
    product = _product(session, payload)
    selling.pin_product(session=session, product=product, by=ctx.user)
    return {"pinned": product.pk}


@action("unpin", host_only=True)
def unpin(ctx: RoomContext, payload: dict) -> dict:
    selling.unpin(session=_session(ctx), by=ctx.user)
    return {"pinned": None}


@action("deal.start", host_only=True)
def deal_start(ctx: RoomContext, payload: dict) -> dict:
    session = _session(ctx)
    product = _product(session, payload)
    deal = selling.start_deal(
        session=session,
        product=product,
        price_amount=_whole(payload, "price_amount"),
        quantity=_whole(payload, "quantity"),
        duration_seconds=_whole(payload, "duration_seconds"),
        by=ctx.user,
    )
    return {"deal": deal_data(deal)}


@action("deal.end", host_only=True)
def deal_end(ctx: RoomContext, payload: dict) -> dict:
    deal_id = _whole(payload, "deal_id")
    deal = (
        FlashDeal.objects.select_related("session")
        .filter(pk=deal_id, session_id=ctx.session_id)
        .first()
    )
    if deal is None:
        raise NotFound("No such deal in this session.", code="deal_not_found")
    deal = selling.end_deal(deal=deal, by=ctx.user)
    return {"deal_id": deal.pk, "status": deal.status}


@action("notice", host_only=True)
def notice(ctx: RoomContext, payload: dict) -> dict:
    text = selling.post_notice(session=_session(ctx), text=_field(payload, "text"), by=ctx.user)
    return {"text": text}


@action("session.end", host_only=True)
def session_end(ctx: RoomContext, payload: dict) -> dict:
    session = sessions.end_session(session=_session(ctx), by=ctx.user)  # ends its deal too
    return {"status": session.status}
