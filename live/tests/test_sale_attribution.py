"""A sale is credited to a live session only when it happened there: the product is in that
session's lineup (or pinned), the session is on air, and it is the product's own creator's.
Anything else a shopper's form claims is recorded as a plain product-page sale."""

import pytest
from django.urls import reverse

from live.models import LineupItem, LiveSession
from live.selling import purchases
from live.stream.summary import session_summary
from orders.models import CartItem, Checkout, Order, SaleSource
from orders.signals import checkout_paid
from orders.tests.factories import ADDRESS, pay_checkout

from .selling_support import live_session, product_with_variant

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("localstripe")]


@pytest.fixture
def purchase_queue(settings, monkeypatch):
    """The "just bought" queue in a private cache; flushes are recorded, not scheduled."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "live-attribution-tests",
        }
    }
    from django.core.cache import cache

    cache.clear()
    scheduled = []
    monkeypatch.setattr(
        "live.tasks.flush_purchases_task.apply_async",
        lambda args, countdown: scheduled.append(args),
    )
    return scheduled


@pytest.fixture
def product_a(shop):
    """Creator A's product (the `shop` fixture is creator A's shop)."""
    return product_with_variant(shop, title="A's serum")


@pytest.fixture
def b_session(other_shop):
    """Creator B on air with B's own product in the lineup."""
    b_product, _ = product_with_variant(other_shop, title="B's mug")
    return live_session(other_shop, b_product, title="B's night")


def _buy_now_and_pay(client, user, variant, **claimed) -> Order:
    """What a shopper's browser can do: post Buy now with any fields, check out, pay."""
    client.force_login(user)
    response = client.post(
        reverse("orders:buy-now"), {"variant_id": variant.pk, "quantity": 1, **claimed}
    )
    assert response.status_code == 302, response.content
    response = client.post(
        reverse("orders:checkout"), {"buy_now": "1", "address": "new", **ADDRESS}
    )
    assert response.status_code == 302, response.content
    checkout = Checkout.objects.get(buyer=user)
    pay_checkout(checkout)
    return checkout.orders.get()


def _announced(checkout_id: int) -> int:
    return purchases.record_purchases(checkout_id=checkout_id)


def test_buy_now_naming_another_creators_live_is_recorded_as_a_product_page_sale(
    client, shopper, product_a, b_session, purchase_queue
):
    _, variant = product_a
    order = _buy_now_and_pay(
        client, shopper, variant, source=SaleSource.LIVE, source_ref=str(b_session.pk)
    )

    assert (order.source, order.source_ref) == (SaleSource.PRODUCT_PAGE, "")
    assert session_summary(session=b_session).orders == 0
    assert _announced(order.checkout_id) == 0
    assert purchase_queue == []


def test_another_creators_live_is_not_credited_even_with_the_product_slipped_into_its_lineup(
    client, shopper, product_a, b_session
):
    product, variant = product_a
    LineupItem.objects.create(session=b_session, product=product, position=9)

    order = _buy_now_and_pay(
        client, shopper, variant, source=SaleSource.LIVE, source_ref=str(b_session.pk)
    )

    assert order.source == SaleSource.PRODUCT_PAGE
    assert session_summary(session=b_session).orders == 0


def test_cart_add_naming_another_creators_live_keeps_a_product_page_line(
    client, shopper, product_a, b_session
):
    _, variant = product_a
    client.force_login(shopper)
    client.post(
        reverse("orders:cart-add"),
        {"variant_id": variant.pk, "source": "live", "source_ref": str(b_session.pk)},
    )

    line = CartItem.objects.get(cart__user=shopper)
    assert (line.source, line.source_ref) == (SaleSource.PRODUCT_PAGE, "")


def test_a_product_in_its_creators_lineup_while_live_is_credited_to_that_live(
    client, shopper, shop, product_a, purchase_queue
):
    product, variant = product_a
    session = live_session(shop, product)

    order = _buy_now_and_pay(
        client, shopper, variant, source=SaleSource.LIVE, source_ref=str(session.pk)
    )
    checkout_paid.send(sender=Checkout, checkout_id=order.checkout_id)

    assert (order.source, order.source_ref) == (SaleSource.LIVE, str(session.pk))
    assert session_summary(session=session).orders == 1
    assert purchase_queue == [(session.pk, purchase_queue[0][1])]


def test_the_pinned_product_counts_as_sold_in_the_live(client, shopper, shop, product_a):
    product, variant = product_a
    session = live_session(shop)
    LiveSession.objects.filter(pk=session.pk).update(pinned_product=product)

    order = _buy_now_and_pay(
        client, shopper, variant, source=SaleSource.LIVE, source_ref=str(session.pk)
    )

    assert order.source == SaleSource.LIVE


def test_a_product_from_the_creators_shop_outside_the_lineup_is_not_credited(
    client, shopper, shop, product_a
):
    _, variant = product_a
    other_product, _ = product_with_variant(shop, title="Not tonight")
    session = live_session(shop, other_product)

    order = _buy_now_and_pay(
        client, shopper, variant, source=SaleSource.LIVE, source_ref=str(session.pk)
    )

    assert order.source == SaleSource.PRODUCT_PAGE
    assert session_summary(session=session).orders == 0


@pytest.mark.parametrize(
    "status", [LiveSession.Status.ENDED, LiveSession.Status.SCHEDULED], ids=["ended", "scheduled"]
)
def test_a_live_that_is_not_on_air_is_not_credited(client, shopper, shop, product_a, status):
    product, variant = product_a
    session = live_session(shop, product, status=status)

    order = _buy_now_and_pay(
        client, shopper, variant, source=SaleSource.LIVE, source_ref=str(session.pk)
    )

    assert (order.source, order.source_ref) == (SaleSource.PRODUCT_PAGE, "")
    assert session_summary(session=session).orders == 0


@pytest.mark.parametrize("ref", ["", "abc", "999999999", "9" * 40, "١٢"])
def test_a_live_source_naming_no_real_session_is_a_product_page_sale(
    client, shopper, product_a, ref
):
    _, variant = product_a
    order = _buy_now_and_pay(client, shopper, variant, source=SaleSource.LIVE, source_ref=ref)
    assert (order.source, order.source_ref) == (SaleSource.PRODUCT_PAGE, "")
