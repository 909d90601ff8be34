"""Reads for live pages, the room and the profile block; their joins are decided here."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import (
    Exists,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from shopfeed.accounts.models import Follow
from shops.models import Product, ProductImage, Shop, Variant

from .models import LineupItem, LiveSession

# A scheduled session that has not started stays "upcoming" this long after its start time.
UPCOMING_GRACE = timedelta(hours=2)


# --- product cards (the shared protocol's `card`) -------------------------------------------


def _card_products() -> QuerySet[Product]:
    return Product.objects.select_related("shop", "shop__owner").prefetch_related(
        Prefetch("variants", queryset=Variant.objects.order_by("position", "id")),
        Prefetch("images", queryset=ProductImage.objects.order_by("position", "id")),
    )


def product_card(product: Product) -> dict:
    """{id, title, url, thumbnail_url, currency, min/max_price_amount, variants: [...]}.

    Expects `variants` and `images` prefetched (see `_card_products`)."""
    variants = list(product.variants.all())
    images = list(product.images.all())
    prices = [v.price_amount for v in variants]
    return {
        "id": product.pk,
        "title": product.title,
        "url": product.get_absolute_url(),
        "thumbnail_url": images[0].display_url if images else "",
        "currency": variants[0].currency if variants else product.shop.currency,
        "min_price_amount": min(prices) if prices else None,
        "max_price_amount": max(prices) if prices else None,
        "variants": [
            {
                "id": v.pk,
                "label": v.label,
                "price_amount": v.price_amount,
                "compare_at_amount": v.compare_at_amount,
                "quantity": v.quantity,
            }
            for v in variants
        ],
    }


def product_cards(product_ids: list[int]) -> list[dict]:
    """Cards in the order of `product_ids` (three queries whatever the count)."""
    by_id = {p.pk: p for p in _card_products().filter(pk__in=product_ids)}
    return [product_card(by_id[pk]) for pk in product_ids if pk in by_id]


def lineup_product_ids(session: LiveSession) -> list[int]:
    return list(
        LineupItem.objects.filter(session=session)
        .order_by("position", "id")
        .values_list("product_id", flat=True)
    )


def lineup_cards(session: LiveSession) -> list[dict]:
    """The session's lineup as cards, in lineup order; products no longer active drop out."""
    ids = lineup_product_ids(session)
    by_id = {
        p.pk: p
        for p in _card_products().filter(
            pk__in=ids, status=Product.Status.ACTIVE, shop__status=Shop.Status.ACTIVE
        )
    }
    return [product_card(by_id[pk]) for pk in ids if pk in by_id]


def pinned_card(session: LiveSession) -> dict | None:
    if not session.pinned_product_id:
        return None
    cards = product_cards([session.pinned_product_id])
    return cards[0] if cards else None


# --- sessions ------------------------------------------------------------------------------


def _session_list() -> QuerySet[LiveSession]:
    return LiveSession.objects.select_related("host", "shop")


def _public(qs: QuerySet[LiveSession]) -> QuerySet[LiveSession]:
    return qs.filter(shop__status=Shop.Status.ACTIVE)


def _upcoming_q(now) -> Q:
    return Q(status=LiveSession.Status.SCHEDULED, scheduled_at__gte=now - UPCOMING_GRACE)


def list_live_now(*, viewer=None) -> QuerySet[LiveSession]:
    """Sessions on air, those by creators the viewer follows first."""
    qs = _public(_session_list()).filter(status=LiveSession.Status.LIVE)
    return _followed_first(qs, viewer, "-started_at")


def list_upcoming(*, viewer=None, limit: int = 24) -> QuerySet[LiveSession]:
    now = timezone.now()
    qs = _public(_session_list()).filter(_upcoming_q(now))
    return _followed_first(qs, viewer, "scheduled_at")[:limit]


def _followed_first(qs: QuerySet[LiveSession], viewer, order: str) -> QuerySet[LiveSession]:
    if viewer is not None and getattr(viewer, "is_authenticated", False):
        followed = Follow.objects.filter(follower=viewer, creator=OuterRef("host"))
        return qs.annotate(followed=Exists(followed)).order_by("-followed", order, "-pk")
    return qs.order_by(order, "-pk")


def sessions_on_profile(*, host) -> list[LiveSession]:
    """What a creator's profile shows: live sessions, then upcoming ones (one query)."""
    now = timezone.now()
    qs = _public(_session_list()).filter(host=host)
    sessions = list(
        qs.filter(Q(status=LiveSession.Status.LIVE) | _upcoming_q(now)).order_by(
            "scheduled_at", "pk"
        )[:10]
    )
    return sorted(sessions, key=lambda s: not s.is_live)


def host_sessions(*, host) -> QuerySet[LiveSession]:
    """A creator's own sessions for the studio: live first, then upcoming, then past; each with
    the coins gifted in it (`gift_coins`) and the gifts sent (`gift_count`)."""
    from gifts.models import GiftSend

    sends = GiftSend.objects.filter(session_id=OuterRef("pk"), host_id=OuterRef("host_id"))
    return (
        LiveSession.objects.filter(host=host)
        .select_related("shop")
        .annotate(
            gift_coins=Coalesce(_sum_of(sends, "coins_total"), 0),
            gift_count=Coalesce(_sum_of(sends, "count"), 0),
        )
        .order_by("-scheduled_at")
    )


def _sum_of(sends, field: str) -> Subquery:
    return Subquery(
        sends.order_by().values("session_id").annotate(total=Sum(field)).values("total")[:1],
        output_field=IntegerField(),
    )


def get_watchable_session(*, session_id: int, user=None) -> LiveSession:
    """A session a viewer may open; a suspended shop's sessions only for its host and staff."""
    session = _session_list().select_related("pinned_product").get(pk=session_id)
    if session.shop is not None and session.shop.is_suspended:
        is_host = getattr(user, "pk", None) == session.host_id
        if not (is_host or getattr(user, "is_staff", False)):
            raise LiveSession.DoesNotExist
    return session


def get_managed_session(*, session_id: int, user) -> LiveSession:
    """The session if `user` hosts it (or is staff); otherwise it does not exist for them."""
    qs = LiveSession.objects.select_related("host", "shop")
    if not getattr(user, "is_staff", False):
        qs = qs.filter(host=user)
    return qs.get(pk=session_id)


def lineup_choices(*, shop: Shop) -> QuerySet[Product]:
    """What a creator may put in a lineup: the shop's active products."""
    return Product.objects.filter(shop=shop, status=Product.Status.ACTIVE).order_by(
        "-is_featured", "tab_position", "-created_at"
    )
