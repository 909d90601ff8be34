"""Live sessions: scheduling, the lineup, going live and ending, the stream key.

State machine: scheduled -> live -> ended (a scheduled session may also be ended, which
cancels it). Going live and ending are idempotent, so the media server's callbacks, the
creator's buttons and the room's "session.end" may all arrive, in any order, any number of
times. The host or staff act by hand; the media server acts with `by=None`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from live import selectors
from live.broadcast import publish
from live.models import LineupItem, LiveSession, new_stream_key
from shopfeed.errors import Conflict, NotAllowed, NotFound, ShopFeedError
from shops.models import Product, Shop

MAX_LINEUP = 50
# How far in the past a start time may be (a creator who schedules "now" is a few seconds late).
START_TIME_SLACK = timedelta(minutes=5)
SESSION_FIELDS = ("title", "scheduled_at", "cover")


# --- permissions ---------------------------------------------------------------------------


def _is_host_or_staff(session: LiveSession, user) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    return user.pk == session.host_id or bool(getattr(user, "is_staff", False))


def ensure_can_manage(*, session: LiveSession, by) -> None:
    if not _is_host_or_staff(session, by):
        raise NotAllowed("Only the host can manage this live session.")


def _host_shop(host) -> Shop:
    if not getattr(host, "is_authenticated", False) or not host.is_creator:
        raise NotAllowed("Only creators can go live.", code="not_a_creator")
    shop = Shop.objects.filter(owner=host).first()
    if shop is None:
        raise NotAllowed("Open your shop before scheduling a live.", code="no_shop")
    if shop.is_suspended:
        raise NotAllowed("Your shop is suspended; you cannot go live.", code="shop_suspended")
    return shop


def _ensure_shop_active(session: LiveSession) -> None:
    if (
        session.shop_id
        and Shop.objects.filter(pk=session.shop_id, status=Shop.Status.SUSPENDED).exists()
    ):
        raise NotAllowed("This shop is suspended; it cannot go live.", code="shop_suspended")


def _locked(session: LiveSession) -> LiveSession:
    return LiveSession.objects.select_for_update().get(pk=session.pk)


# --- validation ----------------------------------------------------------------------------


def _clean_title(title) -> str:
    title = (title or "").strip()
    if not title:
        raise ShopFeedError("Give your live a title.", field="title")
    if len(title) > 120:
        raise ShopFeedError("Keep the title to 120 characters.", field="title")
    return title


def _clean_start(scheduled_at) -> datetime:
    if not isinstance(scheduled_at, datetime):
        raise ShopFeedError("Pick a start date and time.", field="scheduled_at")
    if timezone.is_naive(scheduled_at):
        scheduled_at = timezone.make_aware(scheduled_at)
    if scheduled_at < timezone.now() - START_TIME_SLACK:
        raise ShopFeedError("Pick a start time in the future.", field="scheduled_at")
    return scheduled_at


def _lineup_products(*, shop: Shop, product_ids: Iterable) -> list[int]:
    """Distinct ids, in the order given, all active products of `shop`."""
    ids: list[int] = []
    for raw in product_ids or ():
        try:
            pk = int(raw)
        except (TypeError, ValueError):
            raise ShopFeedError("Choose products from your shop.", field="product_ids") from None
        if pk not in ids:
            ids.append(pk)
    if len(ids) > MAX_LINEUP:
        raise ShopFeedError(f"A lineup holds at most {MAX_LINEUP} products.", field="product_ids")
    found = set(
        Product.objects.filter(pk__in=ids, shop=shop, status=Product.Status.ACTIVE).values_list(
            "pk", flat=True
        )
    )
    if len(found) != len(ids):
        raise ShopFeedError(
            "A lineup can only hold active products of your own shop.", field="product_ids"
        )
    return ids


def _save(session: LiveSession) -> None:
    # Model validation (cover image checks, lengths) before the write: a 4xx, nothing saved.
    session.full_clean(exclude=["host", "shop", "pinned_product"], validate_constraints=True)
    session.save()


def _write_lineup(session: LiveSession, ids: list[int]) -> None:
    LineupItem.objects.filter(session=session).delete()
    LineupItem.objects.bulk_create(
        LineupItem(session=session, product_id=pk, position=i) for i, pk in enumerate(ids)
    )


# --- scheduling ----------------------------------------------------------------------------


@transaction.atomic
def schedule_session(
    *, host, title: str, scheduled_at: datetime, cover=None, product_ids: Iterable = ()
) -> LiveSession:
    shop = _host_shop(host)
    session = LiveSession(
        host=host,
        shop=shop,
        title=_clean_title(title),
        scheduled_at=_clean_start(scheduled_at),
    )
    if cover:
        session.cover = cover
    ids = _lineup_products(shop=shop, product_ids=product_ids)
    _save(session)
    _write_lineup(session, ids)
    return session


@transaction.atomic
def update_session(*, session: LiveSession, by, **fields) -> LiveSession:
    """Change title, start time or cover; not once the session has ended."""
    ensure_can_manage(session=session, by=by)
    unknown = set(fields) - set(SESSION_FIELDS)
    if unknown:
        raise ShopFeedError(f"Unknown session fields: {', '.join(sorted(unknown))}.")
    session = _locked(session)
    if session.status == LiveSession.Status.ENDED:
        raise Conflict("This live has ended; it cannot change.", code="session_ended")
    if "title" in fields:
        session.title = _clean_title(fields["title"])
    if "scheduled_at" in fields and fields["scheduled_at"] != session.scheduled_at:
        if session.status != LiveSession.Status.SCHEDULED:
            raise Conflict("The start time cannot change once you are live.", code="session_live")
        session.scheduled_at = _clean_start(fields["scheduled_at"])
    if fields.get("cover"):
        session.cover = fields["cover"]
    _save(session)
    return session


@transaction.atomic
def set_lineup(*, session: LiveSession, by, product_ids: Iterable) -> LiveSession:
    """Replace the lineup; a pinned product that left it is unpinned. Tells the room."""
    ensure_can_manage(session=session, by=by)
    session = _locked(session)
    if session.status == LiveSession.Status.ENDED:
        raise Conflict("This live has ended; its lineup cannot change.", code="session_ended")
    shop = session.shop
    if shop is None:
        raise NotAllowed("This live has no shop to sell from.", code="no_shop")
    ids = _lineup_products(shop=shop, product_ids=product_ids)
    _write_lineup(session, ids)
    if session.pinned_product_id and session.pinned_product_id not in ids:
        session.pinned_product = None
        session.save(update_fields=["pinned_product", "updated_at"])
        publish(session.pk, "unpin", {})
    publish(session.pk, "lineup", {"items": selectors.lineup_cards(session)})
    return session


@transaction.atomic
def update_session_and_lineup(
    *, session: LiveSession, by, title: str, scheduled_at: datetime, cover=None, product_ids
) -> LiveSession:
    """The studio's edit form: title, cover, the start time while still scheduled, and the
    lineup when it changed, all saved or none."""
    fields = {"title": title, "cover": cover}
    if session.status == LiveSession.Status.SCHEDULED:
        fields["scheduled_at"] = scheduled_at
    session = update_session(session=session, by=by, **fields)
    product_ids = list(product_ids)
    if product_ids != selectors.lineup_product_ids(session):
        session = set_lineup(session=session, by=by, product_ids=product_ids)
    return session


# --- going live and ending -------------------------------------------------------------------


def _check_actor(session: LiveSession, by) -> None:
    # by=None is the media server (its callbacks are authenticated at the hook).
    if by is not None:
        ensure_can_manage(session=session, by=by)


@transaction.atomic
def go_live(*, session: LiveSession, by=None) -> LiveSession:
    _check_actor(session, by)
    session = _locked(session)
    if session.status == LiveSession.Status.LIVE:
        return session
    if session.status == LiveSession.Status.ENDED:
        raise Conflict("This live has ended; schedule a new one.", code="session_ended")
    _ensure_shop_active(session)
    session.status = LiveSession.Status.LIVE
    session.started_at = timezone.now()
    session.save(update_fields=["status", "started_at", "updated_at"])
    publish(session.pk, "session.started", {})
    return session


@transaction.atomic
def end_session(*, session: LiveSession, by=None) -> LiveSession:
    """End a live session (or cancel a scheduled one). Ending twice changes nothing."""
    _check_actor(session, by)
    session = _locked(session)
    if session.status == LiveSession.Status.ENDED:
        return session
    session.status = LiveSession.Status.ENDED
    session.ended_at = timezone.now()
    session.save(update_fields=["status", "ended_at", "updated_at"])
    # However the session ends (button, room, media server), its running deal ends with it.
    from live.selling.services import end_session_deals  # selling builds on this module

    end_session_deals(session=session)
    publish(session.pk, "session.ended", {})
    return session


@transaction.atomic
def rotate_stream_key(*, session: LiveSession, by) -> LiveSession:
    """A new secret key; the old one stops working for the next publish."""
    if not _is_host_or_staff(session, by):
        raise NotAllowed("Only the host can change the stream key.")
    session = _locked(session)
    if session.status == LiveSession.Status.ENDED:
        raise Conflict("This live has ended; it needs no stream key.", code="session_ended")
    session.stream_key = new_stream_key()
    session.save(update_fields=["stream_key", "updated_at"])
    return session


# --- media-server callbacks --------------------------------------------------------------------


class WrongStreamKey(NotAllowed):
    """That stream key belongs to no live session."""

    code = "wrong_stream_key"


def _by_key(stream_key: str) -> LiveSession:
    stream_key = (stream_key or "").strip()
    if not stream_key:
        raise WrongStreamKey()
    try:
        return LiveSession.objects.get(stream_key=stream_key)
    except LiveSession.DoesNotExist:
        raise WrongStreamKey() from None


def handle_publish(*, stream_key: str) -> LiveSession:
    """The media server asks whether `stream_key` may publish: the session goes live, or the
    key is refused (unknown key, ended session, suspended shop)."""
    return go_live(session=_by_key(stream_key), by=None)


def handle_publish_done(*, stream_key: str) -> LiveSession:
    """The stream stopped: the session ends."""
    try:
        session = _by_key(stream_key)
    except WrongStreamKey:
        raise NotFound("No live session has that stream key.") from None
    return end_session(session=session, by=None)
