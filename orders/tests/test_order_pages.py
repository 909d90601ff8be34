"""Order pages: the shopper's history and detail, the seller's list, order page and actions."""

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from orders.fulfilment.forms import parse_amount
from orders.fulfilment.services import add_note, refund_order, ship_order
from orders.models import Order, Refund
from shopfeed.accounts.tests.factories import UserFactory
from shops.tests.factories import ProductFactory, VariantFactory

from .factories import ADDRESS, OrderFactory, PaidOrderFactory

# Paid orders are paid at localstripe.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("localstripe")]

S = Order.Status
HISTORY = reverse("orders:order-list")
SELLER_LIST = reverse("orders:seller-order-list")


def detail_url(order):
    return reverse("orders:order-detail", args=[order.pk])


def seller_url(order, action=None):
    name = f"orders:seller-order-{action}" if action else "orders:seller-order-detail"
    return reverse(name, args=[order.pk])


def order_with_items(*, buyer, shop, items=2, paid=True) -> Order:
    variants = [
        VariantFactory(product=ProductFactory(shop=shop), price_amount=1000 + i)
        for i in range(items)
    ]
    return (PaidOrderFactory if paid else OrderFactory)(buyer=buyer, variants=variants)


def state(order):
    order.refresh_from_db()
    return (
        order.status,
        order.refunded_amount,
        order.tracking_number,
        order.events.count(),
        order.refunds.count(),
    )


def queries_for(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


# --- shopper pages -------------------------------------------------------------------------


def test_history_lists_my_orders_newest_first_and_nobody_elses(client, shop, shopper):
    first = PaidOrderFactory(buyer=shopper, shop=shop)
    second = OrderFactory(buyer=shopper, shop=shop)
    someone_else = PaidOrderFactory(shop=shop)
    client.force_login(shopper)

    body = client.get(HISTORY).content.decode()

    assert body.index(f"Order #{second.pk}") < body.index(f"Order #{first.pk}")
    assert f"Order #{someone_else.pk}<" not in body
    assert "Pending payment" in body
    assert "Paid" in body
    assert first.items.get().product_title in body


def test_history_is_paginated(client, shop, shopper):
    orders = [OrderFactory(buyer=shopper, shop=shop) for _ in range(21)]
    client.force_login(shopper)

    page1 = client.get(HISTORY).content.decode()
    page2 = client.get(HISTORY, {"page": 2}).content.decode()

    assert page1.count('<li class="card order-row">') == 20
    assert page2.count('<li class="card order-row">') == 1
    assert f"Order #{orders[0].pk}<" in page2
    assert "Page 1 of 2" in page1


def test_history_takes_the_same_number_of_queries_however_many_orders(client, shop, shopper):
    client.force_login(shopper)
    order_with_items(buyer=shopper, shop=shop, items=1)
    few = queries_for(client, HISTORY)
    for _ in range(5):
        order_with_items(buyer=shopper, shop=shop, items=3)
    assert queries_for(client, HISTORY) == few


def test_order_detail_shows_items_tracking_address_and_history(client, shop, shopper, creator):
    order = order_with_items(buyer=shopper, shop=shop, items=2)
    ship_order(order=order, by=creator, carrier="DHL", tracking_number="JD0146")
    client.force_login(shopper)

    body = client.get(detail_url(order)).content.decode()

    for item in order.items.all():
        assert item.product_title in body
    assert "DHL" in body
    assert "JD0146" in body
    assert ADDRESS["full_name"] in body
    assert "SPRINGFIELD, NY 12345" in body  # the US format, city normalised
    assert "Shipped with DHL, tracking number JD0146." in body
    assert "$20.01" in body  # 1000 + 1001 cents


def test_order_detail_shows_refunds_but_not_staff_notes(
    client, localstripe, shop, shopper, creator
):
    order = PaidOrderFactory(buyer=shopper, shop=shop)
    refund_order(order=order, by=creator, amount=500, reason="Scuffed box")
    add_note(order=order, by=UserFactory(is_staff=True), text="Internal: buyer is nice")
    client.force_login(shopper)

    body = client.get(detail_url(order)).content.decode()

    assert "$5.00" in body
    assert "Scuffed box" in body
    assert "Internal: buyer is nice" not in body


@pytest.mark.parametrize("who", ["other_shopper", "seller"])
def test_someone_elses_order_is_not_found(client, shop, shopper, creator, who):
    order = PaidOrderFactory(buyer=shopper, shop=shop)
    client.force_login(UserFactory() if who == "other_shopper" else creator)
    assert client.get(detail_url(order)).status_code == 404


def test_order_pages_ask_an_anonymous_visitor_to_log_in(client, shop, shopper):
    order = PaidOrderFactory(buyer=shopper, shop=shop)
    for url in (HISTORY, detail_url(order), SELLER_LIST, seller_url(order)):
        response = client.get(url)
        assert response.status_code == 302
        assert "/accounts/login/" in response["Location"]


# --- seller list ---------------------------------------------------------------------------


def test_seller_list_shows_only_this_shops_orders_with_counts(client, shop, other_shop, creator):
    mine = PaidOrderFactory(shop=shop)
    theirs = PaidOrderFactory(shop=other_shop)
    client.force_login(creator)

    body = client.get(SELLER_LIST).content.decode()

    assert f"Order #{mine.pk}<" in body
    assert f"Order #{theirs.pk}<" not in body
    assert f"@{mine.buyer.handle}" in body
    assert 'Orders <span class="muted">(1)</span>' in body


def test_seller_list_filters_by_status(client, shop, creator):
    paid = PaidOrderFactory(shop=shop)
    shipped = PaidOrderFactory(shop=shop)
    ship_order(order=shipped, by=creator, carrier="UPS", tracking_number="1Z")
    client.force_login(creator)

    body = client.get(SELLER_LIST, {"status": "shipped"}).content.decode()
    assert f"Order #{shipped.pk}<" in body
    assert f"Order #{paid.pk}<" not in body

    body = client.get(SELLER_LIST, {"status": "nonsense"}).content.decode()
    assert f"Order #{shipped.pk}<" in body
    assert f"Order #{paid.pk}<" in body


def test_seller_list_searches_by_order_number_and_buyer(client, shop, creator):
    ann = UserFactory(handle="ann_buys", email="ann@example.com")
    bob = UserFactory(handle="bob_buys", email="bob@example.com")
    ann_order = PaidOrderFactory(buyer=ann, shop=shop)
    bob_order = PaidOrderFactory(buyer=bob, shop=shop)
    client.force_login(creator)

    def found(q):
        body = client.get(SELLER_LIST, {"q": q}).content.decode()
        return {o.pk for o in (ann_order, bob_order) if f"Order #{o.pk}<" in body}

    assert found(f"#{bob_order.pk}") == {bob_order.pk}
    assert found(str(ann_order.pk)) == {ann_order.pk}
    assert found("@ann_b") == {ann_order.pk}
    assert found("bob@example") == {bob_order.pk}
    assert found("nobody-like-this") == set()
    assert found("99999999999999999999999") == set()


def test_seller_list_takes_the_same_number_of_queries_however_many_orders(client, shop, creator):
    client.force_login(creator)
    order_with_items(buyer=UserFactory(), shop=shop, items=1)
    few = queries_for(client, SELLER_LIST)
    for _ in range(5):
        order_with_items(buyer=UserFactory(), shop=shop, items=3)
    assert queries_for(client, SELLER_LIST) == few


def test_a_shopper_without_a_shop_is_sent_to_open_one(client, shopper):
    client.force_login(shopper)
    response = client.get(SELLER_LIST)
    assert response.status_code == 302
    assert response["Location"] == reverse("shops:dashboard")


def test_the_dashboard_links_to_the_orders(client, shop, creator):
    client.force_login(creator)
    assert SELLER_LIST in client.get(reverse("shops:dashboard")).content.decode()


# --- seller actions ------------------------------------------------------------------------


def test_seller_ships_an_order_and_the_buyer_is_emailed(
    client, django_capture_on_commit_callbacks, shop, shopper, creator
):
    order = PaidOrderFactory(buyer=shopper, shop=shop)
    mail.outbox.clear()  # the payment's own emails
    client.force_login(creator)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            seller_url(order, "ship"), {"carrier": "UPS", "tracking_number": "1Z999"}
        )

    assert response.status_code == 302
    order.refresh_from_db()
    assert (order.status, order.carrier, order.tracking_number) == (S.SHIPPED, "UPS", "1Z999")
    assert [m.to for m in mail.outbox] == [[shopper.email]]
    page = client.get(response["Location"]).content.decode()
    assert "is marked shipped" in page


def test_shipping_without_a_tracking_number_shows_the_form_again(client, shop, creator):
    order = PaidOrderFactory(shop=shop)
    before = state(order)
    client.force_login(creator)

    response = client.post(seller_url(order, "ship"), {"carrier": "UPS", "tracking_number": ""})

    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert state(order) == before


def test_shipping_an_unpaid_order_is_refused_with_the_reason(client, shop, creator):
    order = OrderFactory(shop=shop)
    before = state(order)
    client.force_login(creator)

    response = client.post(seller_url(order, "ship"), {"carrier": "UPS", "tracking_number": "1Z"})

    assert response.status_code == 400
    assert "An order awaiting payment cannot be shipped; wait until it is paid." in (
        response.content.decode()
    )
    assert state(order) == before


def test_seller_marks_delivered_from_the_list_and_returns_to_it(client, shop, creator):
    order = PaidOrderFactory(shop=shop)
    ship_order(order=order, by=creator, carrier="UPS", tracking_number="1Z")
    client.force_login(creator)
    back = f"{SELLER_LIST}?status=shipped"

    response = client.post(seller_url(order, "deliver"), {"next": back})

    assert response.status_code == 302
    assert response["Location"] == back
    order.refresh_from_db()
    assert order.status == S.DELIVERED
    assert order.release_at is not None


def test_a_next_address_off_the_site_is_ignored(client, shop, creator):
    order = PaidOrderFactory(shop=shop)
    ship_order(order=order, by=creator, carrier="UPS", tracking_number="1Z")
    client.force_login(creator)
    response = client.post(seller_url(order, "deliver"), {"next": "https://evil.example/"})
    assert response["Location"] == seller_url(order)


def test_seller_refunds_an_amount_typed_in_dollars(client, localstripe, shop, shopper, creator):
    order = PaidOrderFactory(buyer=shopper, shop=shop)
    client.force_login(creator)

    response = client.post(seller_url(order, "refund"), {"amount": "12.50", "reason": "Late"})

    assert response.status_code == 302
    order.refresh_from_db()
    assert order.refunded_amount == 1250
    refund = order.refunds.get()
    assert (refund.amount, refund.status, refund.reason) == (1250, Refund.Status.SUCCEEDED, "Late")
    assert refund.stripe_refund_id.startswith("re_")
    assert "Refunded $12.50" in client.get(response["Location"]).content.decode()


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("abc", "Enter an amount like 12.50."),
        ("1.234", "Use at most 2 decimal places."),
        ("0", "Enter an amount greater than zero."),
        ("-5", "Enter an amount greater than zero."),
        ("", "This field is required."),
        ("NaN", "Enter an amount like 12.50."),
    ],
)
def test_a_refund_amount_that_is_not_money_is_refused(client, shop, creator, typed, message):
    order = PaidOrderFactory(shop=shop)
    before = state(order)
    client.force_login(creator)

    response = client.post(seller_url(order, "refund"), {"amount": typed})

    assert response.status_code == 400
    assert message in response.content.decode()
    assert state(order) == before


def test_a_refund_beyond_what_is_left_is_refused_with_the_limit(client, localstripe, shop, creator):
    order = PaidOrderFactory(shop=shop)
    refund_order(order=order, by=creator, amount=2000)
    before = state(order)
    client.force_login(creator)

    response = client.post(seller_url(order, "refund"), {"amount": "5.01"})

    assert response.status_code == 400
    assert "You can refund at most $5.00 on this order" in response.content.decode()
    assert state(order) == before


def test_cancelling_a_shipped_order_from_the_page_says_to_refund_instead(client, shop, creator):
    order = PaidOrderFactory(shop=shop)
    ship_order(order=order, by=creator, carrier="UPS", tracking_number="1Z")
    before = state(order)
    client.force_login(creator)

    response = client.post(seller_url(order, "cancel"), {"reason": "Oops"})

    assert response.status_code == 400
    assert "A shipped order cannot be cancelled; refund it instead." in response.content.decode()
    assert state(order) == before


def test_seller_cancels_a_paid_order_which_refunds_it_and_restocks(
    client, localstripe, shop, shopper, creator
):
    variant = VariantFactory(product=ProductFactory(shop=shop), quantity=4)
    order = PaidOrderFactory(buyer=shopper, variant=variant, quantity=3)
    client.force_login(creator)

    response = client.post(seller_url(order, "cancel"), {"reason": "Cannot source it"})

    assert response.status_code == 302
    order.refresh_from_db()
    variant.refresh_from_db()
    assert order.status == S.CANCELLED
    assert order.refunded_amount == order.total_amount
    assert variant.quantity == 4


def test_the_order_page_offers_only_what_can_be_done_now(client, shop, creator):
    order = PaidOrderFactory(shop=shop)
    client.force_login(creator)
    body = client.get(seller_url(order)).content.decode()
    assert seller_url(order, "ship") in body
    assert seller_url(order, "cancel") in body
    assert seller_url(order, "deliver") not in body

    ship_order(order=order, by=creator, carrier="UPS", tracking_number="1Z")
    body = client.get(seller_url(order)).content.decode()
    assert seller_url(order, "deliver") in body
    assert seller_url(order, "refund") in body
    assert seller_url(order, "ship") not in body
    assert seller_url(order, "cancel") not in body


@pytest.mark.parametrize("action", [None, "ship", "deliver", "refund", "cancel"])
def test_another_seller_cannot_see_or_act_on_the_order(client, shop, other_shop, action):
    order = PaidOrderFactory(shop=shop)
    before = state(order)
    client.force_login(other_shop.owner)
    data = {"carrier": "UPS", "tracking_number": "1Z", "amount": "1.00", "reason": "x"}

    if action is None:
        response = client.get(seller_url(order))
    else:
        response = client.post(seller_url(order, action), data)

    assert response.status_code == 404
    assert state(order) == before


def test_the_buyer_cannot_use_the_seller_actions(client, shop, shopper):
    order = PaidOrderFactory(buyer=shopper, shop=shop)
    before = state(order)
    client.force_login(shopper)
    response = client.post(seller_url(order, "cancel"), {"reason": "Changed my mind"})
    assert response.status_code == 404
    assert state(order) == before


def test_actions_only_answer_post(client, shop, creator):
    order = PaidOrderFactory(shop=shop)
    client.force_login(creator)
    assert client.get(seller_url(order, "ship")).status_code == 405


def test_amounts_are_read_exactly_in_the_orders_currency():
    assert parse_amount("12.50", "USD") == 1250
    assert parse_amount(" $1,250.5 ", "USD") == 125050
    assert parse_amount("0.1", "USD") == 10
    assert parse_amount("1250", "JPY") == 1250
    with pytest.raises(ValidationError):
        parse_amount("12.5", "JPY")
    with pytest.raises(ValidationError):
        parse_amount("1e30", "USD")
