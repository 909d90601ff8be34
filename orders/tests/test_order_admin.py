"""Staff tools for orders: browsing, and the refund / cancel / note actions."""

import pytest
from django.urls import reverse

from orders.fulfilment.services import refund_order, ship_order
from orders.models import Checkout, Order, StripeEvent
from shops.tests.factories import ProductFactory, VariantFactory

from .factories import OrderFactory, PaidOrderFactory

# Paid orders are paid at localstripe.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("localstripe")]

S = Order.Status
CHANGELIST = reverse("admin:orders_order_changelist")


def change_url(order):
    return reverse("admin:orders_order_change", args=[order.pk])


def run_action(client, action, orders, **extra):
    data = {"action": action, "_selected_action": [o.pk for o in orders], **extra}
    return client.post(CHANGELIST, data, follow="apply" in extra)


def listed(client, **params) -> set[int]:
    response = client.get(CHANGELIST, params)
    assert response.status_code == 200
    return {o.pk for o in response.context["cl"].result_list}


def test_only_staff_reach_the_order_admin(client, shopper):
    client.force_login(shopper)
    response = client.get(CHANGELIST)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_staff_filter_orders_by_status_and_shop_and_search_them(
    admin_client, shop, other_shop, creator
):
    paid = PaidOrderFactory(shop=shop)
    shipped = PaidOrderFactory(shop=shop)
    ship_order(order=shipped, by=creator, carrier="UPS", tracking_number="1ZTRACK42")
    elsewhere = PaidOrderFactory(shop=other_shop)

    assert listed(admin_client, status__exact="shipped") == {shipped.pk}
    assert listed(admin_client, shop__id__exact=other_shop.pk) == {elsewhere.pk}
    assert listed(admin_client, q="1ZTRACK42") == {shipped.pk}
    assert listed(admin_client, q=str(paid.pk)) >= {paid.pk}
    assert listed(admin_client, q=elsewhere.buyer.handle) == {elsewhere.pk}


def test_the_order_page_shows_items_payment_refunds_and_history_read_only(
    admin_client, localstripe, shop, creator
):
    order = PaidOrderFactory(shop=shop)
    refund = refund_order(order=order, by=creator, amount=700, reason="Dent")

    response = admin_client.get(change_url(order))

    body = response.content.decode()
    assert response.status_code == 200
    assert order.items.get().product_title in body
    assert order.checkout.payment_intent_id in body
    assert refund.stripe_refund_id in body
    assert "$7.00" in body
    assert "Refunded $7.00: Dent" in body
    assert 'name="total_amount"' not in body
    assert 'name="status"' not in body


def test_posting_the_order_form_cannot_change_status_or_money(admin_client, shop):
    order = PaidOrderFactory(shop=shop)
    admin_client.post(change_url(order), {"status": "completed", "refunded_amount": 999})
    order.refresh_from_db()
    assert (order.status, order.refunded_amount) == (S.PAID, 0)


def test_staff_refund_an_order_in_full_after_confirming(admin_client, localstripe, shop, shopper):
    order = PaidOrderFactory(buyer=shopper, shop=shop)

    confirm = run_action(admin_client, "refund_in_full", [order])
    assert confirm.status_code == 200
    assert "Refund what is left" in confirm.content.decode()
    order.refresh_from_db()
    assert order.refunded_amount == 0

    done = run_action(admin_client, "refund_in_full", [order], apply="Refund", text="Goodwill")

    assert "Refunded in full: 1 order(s)." in done.content.decode()
    order.refresh_from_db()
    assert order.refunded_amount == order.total_amount
    refund = order.refunds.get()
    assert refund.stripe_refund_id.startswith("re_")
    assert refund.reason == "Goodwill"


def test_the_refund_action_reports_an_order_that_cannot_be_refunded(admin_client, shop):
    order = OrderFactory(shop=shop)

    done = run_action(admin_client, "refund_in_full", [order], apply="Refund", text="")

    assert (
        f"Order {order.pk}: An unpaid order cannot be refunded; cancel it instead."
        in done.content.decode()
    )
    order.refresh_from_db()
    assert order.refunded_amount == 0
    assert not order.refunds.exists()


def test_staff_cancel_orders_with_a_reason_and_stock_returns(admin_client, shop, shopper):
    variant = VariantFactory(product=ProductFactory(shop=shop), quantity=5)
    order = OrderFactory(buyer=shopper, variant=variant, quantity=2)

    no_reason = run_action(admin_client, "cancel_orders", [order], apply="Cancel orders", text="")
    assert "Reason is required." in no_reason.content.decode()
    order.refresh_from_db()
    assert order.status == S.PENDING_PAYMENT

    done = run_action(
        admin_client, "cancel_orders", [order], apply="Cancel orders", text="Fraud check"
    )

    assert "Cancelled: 1 order(s)." in done.content.decode()
    order.refresh_from_db()
    variant.refresh_from_db()
    assert order.status == S.CANCELLED
    assert variant.quantity == 5
    assert order.events.get(kind="cancelled").message == "Cancelled: Fraud check"


def test_staff_cancel_a_paid_order_which_is_refunded_at_stripe(
    admin_client, localstripe, shop, shopper
):
    order = PaidOrderFactory(buyer=shopper, shop=shop)
    run_action(admin_client, "cancel_orders", [order], apply="Cancel orders", text="Duplicate")
    order.refresh_from_db()
    assert order.status == S.CANCELLED
    assert order.refunded_amount == order.total_amount
    assert order.refunds.get().stripe_refund_id.startswith("re_")


def test_the_cancel_action_refuses_a_shipped_order_and_says_to_refund(admin_client, shop, creator):
    order = PaidOrderFactory(shop=shop)
    ship_order(order=order, by=creator, carrier="UPS", tracking_number="1Z")

    done = run_action(admin_client, "cancel_orders", [order], apply="Cancel orders", text="x")

    assert (
        f"Order {order.pk}: A shipped order cannot be cancelled; refund it instead."
        in done.content.decode()
    )
    order.refresh_from_db()
    assert order.status == S.SHIPPED


def test_staff_add_a_note_to_orders(admin_client, admin_user, shop):
    orders = [PaidOrderFactory(shop=shop) for _ in range(2)]

    done = run_action(
        admin_client, "add_note", orders, apply="Add note", text="Checked with the carrier."
    )

    assert "Note added: 2 order(s)." in done.content.decode()
    for order in orders:
        note = order.events.get(kind="note")
        assert (note.message, note.actor) == ("Checked with the carrier.", admin_user)
    assert "Checked with the carrier." in admin_client.get(change_url(orders[0])).content.decode()


def test_checkouts_and_stripe_events_are_read_only(admin_client, shop):
    order = PaidOrderFactory(shop=shop)
    event = StripeEvent.objects.create(
        event_id="evt_123", type="payment_intent.succeeded", payload={"id": "evt_123"}
    )
    checkout_url = reverse("admin:orders_checkout_change", args=[order.checkout_id])
    event_url = reverse("admin:orders_stripeevent_change", args=[event.pk])

    page = admin_client.get(checkout_url)
    assert page.status_code == 200
    assert f"Order {order.pk}" in page.content.decode()
    assert admin_client.get(event_url).status_code == 200
    assert admin_client.get(reverse("admin:orders_checkout_add")).status_code == 403
    assert admin_client.get(reverse("admin:orders_stripeevent_add")).status_code == 403
    assert admin_client.post(checkout_url, {"status": "cancelled"}).status_code == 403
    assert admin_client.post(event_url, {"type": "x"}).status_code == 403
    order.checkout.refresh_from_db()
    assert order.checkout.status == Checkout.Status.PAID
