"""Selling in a live room: the pinned product, flash deals, buying from the room, host notices
(DESIGN.md section 4). The "just bought" notices are in purchases.py, the deal reads in
selectors.py, what orders tells us in receivers.py.

With Redis (orders.flash), a deal's units and its variant's stock are taken by one Lua script
and the batch writer writes the checkout and counts the units against the deal's row
(live/selling/flash.py); a deal puts its product's variants on that path for good, so every
purchase of them is counted in the same place. Without Redis, a flash deal is claimed like
stock: one conditional UPDATE (`sold + n <= quantity`, still
active, `ends_at` later than the database clock) inside the buyer's transaction, before the
stock reservation, so a failed reservation gives the deal units back with it. Units claimed
by a checkout that is never paid go back when orders says the checkout was released.
"""

import logging
from dataclasses import replace
from datetime import timedelta

from django.db import transaction
from django.db.models import BooleanField, ExpressionWrapper, F, Min, Q, Sum
from django.db.models.functions import Now
from django.utils import timezone

from live import broadcast, selectors
from live.models import FlashDeal, LineupItem, LiveDealClaim, LiveSession
from orders.addresses import services as addresses
from orders.cart.validation import clean_quantity
from orders.checkout.services import LineRequest, buy_now_line, start_checkout
from orders.errors import SoldOut
from orders.flash import services as flash
from orders.models import Address, Checkout, SaleSource
from shopfeed.errors import Conflict, NotAllowed, NotFound, ShopFeedError
from shops.models import Product, Shop, Variant
from shops.money import format_money

from . import flash as live_flash
from .flash import close_deal_on_commit, give_back_deal_on_commit
from .selectors import active_deal, deal_data, sells_in

logger = logging.getLogger(__name__)

DEAL_MIN_SECONDS = 10
DEAL_MAX_SECONDS = 3600
NOTICE_MAX_LENGTH = 200
OWN_LIVE = (
    "This is your own live: you cannot buy from your own shop. "
    "Your viewers buy the pinned product from the live page."
)

# A checkout in one of these will never be paid from its reservation: its deal units go back.
_RELEASED = (Checkout.Status.EXPIRED, Checkout.Status.FAILED, Checkout.Status.CANCELLED)


class DealEnded(Conflict):
    """This flash deal has ended."""

    code = "deal_ended"


# --- rules shared by the services -------------------------------------------------------------


def _ensure_host(session: LiveSession, by) -> None:
    if not (
        by is not None
        and getattr(by, "is_authenticated", False)
        and (by.pk == session.host_id or by.is_staff)
    ):
        raise NotAllowed("Only the host can do that.", code="host_only")


def _locked(session: LiveSession) -> LiveSession:
    return LiveSession.objects.select_for_update().get(pk=session.pk)


def _check_sellable(session: LiveSession, product: Product) -> None:
    if not LineupItem.objects.filter(session=session, product=product).exists():
        raise ShopFeedError(
            "That product is not in this session's lineup; add it to the lineup first.",
            code="not_in_lineup",
            field="product_id",
        )
    shop_status = Shop.objects.filter(pk=product.shop_id).values_list("status", flat=True).first()
    if product.status != Product.Status.ACTIVE or shop_status != Shop.Status.ACTIVE:
        raise ShopFeedError(
            "That product is not on sale (it is a draft, archived, or its shop is suspended).",
            code="product_unavailable",
            field="product_id",
        )


def _whole(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ShopFeedError(f"{name} must be a whole number.", code="bad_payload", field=name)
    return value


def _as_id(value, name: str) -> int:
    """An id from JSON or a form: a positive whole number (digits in a string are fine)."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ShopFeedError(
            f"{name} must be an id (a whole number).", code="bad_payload", field=name
        )
    return value


# --- what rooms are told ---------------------------------------------------------------------


def _publish_deal_stock(deal_id: int) -> None:
    """Tell the room what is left, read when the message goes out (not when it was claimed)."""
    deal = FlashDeal.objects.filter(pk=deal_id).first()
    if deal is not None and deal.status == FlashDeal.Status.ACTIVE:
        broadcast.publish(
            deal.session_id, "deal.stock", {"deal_id": deal.pk, "remaining": deal.remaining}
        )


# --- pinning ---------------------------------------------------------------------------------


@transaction.atomic
def pin_product(*, session: LiveSession, product: Product, by) -> LiveSession:
    session = _locked(session)
    _ensure_host(session, by)
    if session.status == LiveSession.Status.ENDED:
        raise Conflict("This session has ended.", code="session_ended")
    _check_sellable(session, product)
    session.pinned_product = product
    session.save(update_fields=["pinned_product", "updated_at"])
    broadcast.publish(session.pk, "pin", {"product": selectors.product_cards([product.pk])[0]})
    return session


@transaction.atomic
def unpin(*, session: LiveSession, by) -> LiveSession:
    session = _locked(session)
    _ensure_host(session, by)
    if session.pinned_product_id is not None:
        session.pinned_product = None
        session.save(update_fields=["pinned_product", "updated_at"])
        broadcast.publish(session.pk, "unpin", {})
    return session


# --- flash deals -----------------------------------------------------------------------------


@transaction.atomic
def start_deal(
    *,
    session: LiveSession,
    product: Product,
    price_amount: int,
    quantity: int,
    duration_seconds: int,
    by,
) -> FlashDeal:
    session = _locked(session)  # one deal start at a time per session
    _ensure_host(session, by)
    if session.status != LiveSession.Status.LIVE:
        raise Conflict("Flash deals run only while the session is live.", code="session_not_live")
    _check_sellable(session, product)
    price_amount = _whole(price_amount, "price_amount")
    quantity = _whole(quantity, "quantity")
    duration_seconds = _whole(duration_seconds, "duration_seconds")
    found = Variant.objects.filter(product=product).aggregate(
        low=Min("price_amount"), stock=Sum("quantity")
    )
    low, stock = found["low"], found["stock"] or 0
    currency = product.shop.currency
    if low is None:
        raise ShopFeedError("That product has nothing to sell yet.", code="no_variants")
    if not 0 < price_amount < low:
        raise ShopFeedError(
            f"The deal price must be more than 0 and below the lowest price, "
            f"{format_money(low, currency)} ({low} in minor units).",
            code="bad_deal_price",
            field="price_amount",
        )
    if stock < 1:
        raise SoldOut("That product is out of stock.")
    if not 1 <= quantity <= stock:
        raise ShopFeedError(
            f"The deal quantity must be from 1 to {stock} (the units in stock).",
            code="bad_deal_quantity",
            field="quantity",
        )
    if not DEAL_MIN_SECONDS <= duration_seconds <= DEAL_MAX_SECONDS:
        raise ShopFeedError(
            f"A deal lasts from {DEAL_MIN_SECONDS} to {DEAL_MAX_SECONDS} seconds.",
            code="bad_deal_duration",
            field="duration_seconds",
        )
    _end_lapsed(FlashDeal.objects.filter(session=session))
    if FlashDeal.objects.filter(session=session, status=FlashDeal.Status.ACTIVE).exists():
        raise Conflict(
            "A flash deal is already running; end it before starting another.",
            code="deal_running",
        )
    if flash.enabled():
        Variant.objects.filter(product=product, flash_sale=False).update(flash_sale=True)
    now = timezone.now()
    deal = FlashDeal.objects.create(
        session=session,
        product=product,
        deal_price_amount=price_amount,
        currency=currency,
        quantity=quantity,
        starts_at=now,
        ends_at=now + timedelta(seconds=duration_seconds),
    )
    transaction.on_commit(live_flash.forget_cached_offers)
    broadcast.publish(session.pk, "deal.started", {"deal": deal_data(deal)})
    return deal


def _end(deal_ids: list[int]) -> list[int]:
    """Mark these deals ended (those still active) and tell their rooms; returns the ended."""
    ended = []
    for deal in FlashDeal.objects.filter(pk__in=deal_ids).only("pk", "session_id"):
        if FlashDeal.objects.filter(pk=deal.pk, status=FlashDeal.Status.ACTIVE).update(
            status=FlashDeal.Status.ENDED
        ):
            close_deal_on_commit(deal.pk)
            broadcast.publish(deal.session_id, "deal.ended", {"deal_id": deal.pk})
            ended.append(deal.pk)
    return ended


def _end_lapsed(qs, limit: int | None = None) -> list[int]:
    lapsed = qs.filter(status=FlashDeal.Status.ACTIVE, ends_at__lte=Now()).order_by("ends_at")
    return _end(list(lapsed.values_list("pk", flat=True)[:limit]))


@transaction.atomic
def end_deal(*, deal: FlashDeal, by) -> FlashDeal:
    """End a deal now; ending one that has ended already changes nothing."""
    _ensure_host(deal.session, by)
    _end([deal.pk])
    deal.refresh_from_db()
    return deal


@transaction.atomic
def end_session_deals(*, session: LiveSession) -> list[int]:
    """A session's running deal ends with it (live.stream.services.end_session calls this)."""
    return _end(
        list(
            FlashDeal.objects.filter(session=session, status=FlashDeal.Status.ACTIVE).values_list(
                "pk", flat=True
            )
        )
    )


@transaction.atomic
def end_expired_deals(*, limit: int = 500) -> int:
    """The server clock ends deals (claims past `ends_at` already fail); returns how many."""
    return len(_end_lapsed(FlashDeal.objects.all(), limit))


def claim_deal(*, deal: FlashDeal, quantity: int) -> int:
    """Take `quantity` deal units; returns the deal price. Call inside the buyer's transaction.

    Raises SoldOut when fewer are left, DealEnded when the deal is over (by the DB clock).
    """
    for _ in range(3):
        claimed = FlashDeal.objects.filter(
            pk=deal.pk,
            status=FlashDeal.Status.ACTIVE,
            ends_at__gt=Now(),
            sold__lte=F("quantity") - quantity,
        ).update(sold=F("sold") + quantity)
        if claimed:
            return deal.deal_price_amount
        current = (
            FlashDeal.objects.filter(pk=deal.pk)
            .annotate(running=ExpressionWrapper(Q(ends_at__gt=Now()), BooleanField()))
            .first()
        )
        if current is None or current.status != FlashDeal.Status.ACTIVE or not current.running:
            raise DealEnded("This flash deal has ended.")
        remaining = current.remaining
        if remaining <= 0:
            raise SoldOut("Sorry, the flash deal just sold out.")
        if remaining < quantity:
            raise SoldOut(f"Only {remaining} left at the deal price; choose {remaining} or fewer.")
        # Units came back (an unpaid checkout released them) between the two reads: try again.
    raise SoldOut("Sorry, the flash deal just sold out.")


# --- buying from the room --------------------------------------------------------------------


def ensure_not_seller(*, session: LiveSession, buyer) -> None:
    """The host (or the shop's owner) cannot buy from their own live: say so before anything
    is asked of them."""
    if sells_in(session=session, user=buyer):
        raise NotAllowed(OWN_LIVE, code="own_shop")


def _live_line(*, session: LiveSession, buyer, variant: Variant, quantity):
    """The rules of buying `variant` from the room, with no write: (session, variant, line)."""
    session = LiveSession.objects.select_related("shop").get(pk=session.pk)
    ensure_not_seller(session=session, buyer=buyer)
    if session.status == LiveSession.Status.ENDED:
        raise Conflict("This live session has ended.", code="session_ended")
    current = Variant.objects.select_related("product", "shop").filter(pk=variant.pk).first()
    if current is None:
        raise NotFound("That item is not available any more.", code="unavailable")
    variant = current
    if not LineupItem.objects.filter(session=session, product_id=variant.product_id).exists():
        raise ShopFeedError("That product is not sold in this live session.", code="not_in_lineup")
    line = buy_now_line(
        variant=variant,
        quantity=quantity,
        source=SaleSource.LIVE,
        source_ref=str(session.pk),
        buyer=buyer,
    )
    return session, variant, line


def check_live_buy(*, session: LiveSession, buyer, variant: Variant, quantity) -> None:
    """Raise what live_buy_now would refuse up front (the host's own shop, an ended session,
    a sold-out item), so the buyer is never asked for an address in vain."""
    _live_line(session=session, buyer=buyer, variant=variant, quantity=quantity)


def live_buy_now(
    *,
    session: LiveSession,
    buyer,
    variant: Variant,
    quantity,
    address: Address | dict,
    deal_id: int | None = None,
) -> Checkout | flash.Reservation:
    """Buy one variant from a live room (source "live", source_ref the session id).

    While a deal runs on the product the buyer gets the deal price or nothing (SoldOut); pass
    `deal_id` (the deal the buyer saw) to be refused with DealEnded rather than charged the
    normal price once it is over. A deal or a flash-sale variant is reserved in Redis: the
    result is then a Reservation that the batch writer makes a checkout. Then call
    orders.payments.intents.ensure_payment_intent on the checkout.
    """
    deal_id = None if deal_id in (None, "") else _as_id(deal_id, "deal_id")
    if flash.enabled():
        found = live_flash.offer(session_id=session.pk, variant_id=variant.pk)
        if found is not None and (found.flash_sale or found.deal_id is not None):
            return _buy_on_flash_path(
                found, buyer=buyer, quantity=quantity, address=address, deal_id=deal_id
            )
    with transaction.atomic():
        session, variant, line = _live_line(
            session=session, buyer=buyer, variant=variant, quantity=quantity
        )
        deal = active_deal(session_id=session.pk, product_id=variant.product_id)
        if deal_id is not None and (deal is None or deal.pk != deal_id):
            raise DealEnded("This flash deal has ended; buy again at the regular price.")
        if deal is not None and deal.deal_price_amount >= variant.price_amount:
            deal = None  # the regular price went below the deal's: charge the lower one
        if deal is not None:
            line = replace(line, unit_price_amount=claim_deal(deal=deal, quantity=line.quantity))
        checkout = start_checkout(buyer=buyer, lines=[line], address=address)
        if deal is not None:
            LiveDealClaim.objects.create(deal=deal, checkout=checkout, quantity=line.quantity)
            deal_pk = deal.pk
            transaction.on_commit(lambda: _publish_deal_stock(deal_pk))
    return checkout


def _buy_on_flash_path(
    offer: live_flash.Offer, *, buyer, quantity, address: Address | dict, deal_id: int | None
) -> Checkout | flash.Reservation:
    """live_buy_now's rules on the room's cached offer, then one Lua script in Redis."""
    if buyer.pk in offer.seller_ids:
        raise NotAllowed(OWN_LIVE, code="own_shop")
    if offer.session_ended:
        raise Conflict("This live session has ended.", code="session_ended")
    if not offer.in_lineup:
        raise ShopFeedError("That product is not sold in this live session.", code="not_in_lineup")
    quantity = clean_quantity(quantity)
    if deal_id is not None and offer.deal_id != deal_id:
        raise DealEnded("This flash deal has ended; buy again at the regular price.")
    deal = None  # while the regular price is below the deal's, the lower one is charged
    if offer.deal_id is not None and (offer.deal_price_amount or 0) < offer.price_amount:
        deal = flash.DealTerms(offer.deal_id, offer.deal_price_amount or 0)
    line = LineRequest(
        variant_id=offer.variant_id,
        quantity=quantity,
        source=offer.source,
        source_ref=offer.source_ref,
    )
    try:
        reservation = flash.reserve(buyer=buyer, line=line, address=address, deal=deal)
    except flash.DealOver:
        raise DealEnded("This flash deal has ended; buy again at the regular price.") from None
    return flash.placed(reservation)


@transaction.atomic
def live_buy_now_with_new_address(
    *,
    session: LiveSession,
    buyer,
    variant: Variant,
    quantity,
    address_data: dict,
    deal_id: int | None = None,
) -> Checkout | flash.Reservation:
    """live_buy_now at an address the buyer has just entered, saved as their default: the new
    address and the purchase happen together or not at all."""
    address = addresses.save_address(user=buyer, data=address_data, make_default=True)
    return live_buy_now(
        session=session,
        buyer=buyer,
        variant=variant,
        quantity=quantity,
        address=address,
        deal_id=deal_id,
    )


def release_deal_claim(*, checkout_id: int) -> int:
    """Give back the deal units of a checkout that will not be paid; returns how many."""
    with transaction.atomic():
        claim = (
            LiveDealClaim.objects.select_for_update()
            .filter(checkout_id=checkout_id, released_at__isnull=True)
            .first()
        )
        if claim is None:
            return 0
        status = Checkout.objects.filter(pk=checkout_id).values_list("status", flat=True).first()
        if status not in _RELEASED:
            return 0
        claim.released_at = timezone.now()
        claim.save(update_fields=["released_at"])
        FlashDeal.objects.filter(pk=claim.deal_id, sold__gte=claim.quantity).update(
            sold=F("sold") - claim.quantity
        )
        buyer_id = Checkout.objects.filter(pk=checkout_id).values_list("buyer_id", flat=True)[0]
        give_back_deal_on_commit(deal_id=claim.deal_id, quantity=claim.quantity, buyer_id=buyer_id)
        deal_pk = claim.deal_id
        transaction.on_commit(lambda: _publish_deal_stock(deal_pk))
    return claim.quantity


def release_stale_deal_claims(*, limit: int = 500) -> int:
    """Catch up on releases whose signal was lost (the process died after the commit)."""
    ids = list(
        LiveDealClaim.objects.filter(released_at__isnull=True, checkout__status__in=_RELEASED)
        .order_by("pk")
        .values_list("checkout_id", flat=True)[:limit]
    )
    return sum(release_deal_claim(checkout_id=checkout_id) for checkout_id in ids)


def reclaim_after_late_payment(*, checkout_id: int) -> None:
    """A released checkout was paid after all (orders took its stock again): count its units."""
    with transaction.atomic():
        claim = (
            LiveDealClaim.objects.select_for_update()
            .filter(checkout_id=checkout_id, released_at__isnull=False)
            .first()
        )
        if claim is None:
            return
        taken = FlashDeal.objects.filter(
            pk=claim.deal_id, sold__lte=F("quantity") - claim.quantity
        ).update(sold=F("sold") + claim.quantity)
        if taken:
            claim.released_at = None
            claim.save(update_fields=["released_at"])
        else:
            logger.warning(
                "checkout %s was paid late at the price of deal %s, which sold out meanwhile",
                checkout_id,
                claim.deal_id,
            )


# --- notices ---------------------------------------------------------------------------------


def post_notice(*, session: LiveSession, text, by) -> str:
    _ensure_host(session, by)
    if not isinstance(text, str) or not text.strip():
        raise ShopFeedError("Write the notice text.", code="bad_payload", field="text")
    text = " ".join(text.split())
    if len(text) > NOTICE_MAX_LENGTH:
        raise ShopFeedError(
            f"A notice is at most {NOTICE_MAX_LENGTH} characters.", code="bad_payload", field="text"
        )
    if session.status == LiveSession.Status.ENDED:
        raise Conflict("This session has ended.", code="session_ended")
    broadcast.publish(session.pk, "notice", {"text": text})
    return text
