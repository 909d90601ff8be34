"""The order lifecycle after payment: shipping, delivery, completion, cancellation, refunds."""

import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from orders import gateway
from orders.errors import IllegalTransition, PaymentError, RefundTooLarge
from orders.fulfilment import services as fulfilment
from orders.fulfilment.services import (
    add_note,
    cancel_order,
    complete_delivered_orders,
    complete_order,
    mark_delivered,
    refund_order,
    settle_pending_refund,
    ship_order,
)
from orders.ledger import accounting
from orders.ledger.models import LedgerAccount, LedgerEntry
from orders.models import Checkout, Order, OrderEvent, Refund
from orders.payouts import services as payouts
from shopfeed.accounts.tests.factories import UserFactory
from shopfeed.errors import Conflict, NotAllowed, ShopFeedError
from shopfeed.testing import localstripe_call
from shops.tests.factories import ProductFactory, VariantFactory

from .factories import (
    DeliveredOrderFactory,
    OrderFactory,
    PaidOrderFactory,
    ShippedOrderFactory,
)

# Paid orders are paid at localstripe.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("localstripe")]

S = Order.Status
CLEARING, PAYABLE, REVENUE = "buyer_clearing", "seller_payable", "platform_revenue"


@pytest.fixture
def staff(db):
    return UserFactory(is_staff=True)


@pytest.fixture
def variant(shop):
    return VariantFactory(product=ProductFactory(shop=shop), price_amount=2500, quantity=5)


def order_ledger(order: Order) -> dict[str, int]:
    """What the ledger holds for this one order, per account kind (sale, refunds, release)."""
    refs = [f"sale:order:{order.pk}", f"release:order:{order.pk}"]
    refs += [f"refund:{pk}" for pk in order.refunds.values_list("pk", flat=True)]
    rows = (
        LedgerEntry.objects.filter(transaction__reference__in=refs)
        .values_list("account__kind")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    totals = {kind: 0 for kind in LedgerAccount.Kind.values}
    totals.update({kind: int(total) for kind, total in rows})
    return totals


def snapshot(order: Order) -> dict:
    """Everything an action could change about an order, to prove a refusal changed nothing."""
    order.refresh_from_db()
    return {
        "order": {
            f.attname: getattr(order, f.attname) for f in Order._meta.fields if f.name != "checkout"
        },
        "events": list(order.events.values_list("kind", flat=True)),
        "refunds": list(order.refunds.values_list("pk", "status", "amount")),
        "stock": [
            (i.variant.pk, type(i.variant).objects.get(pk=i.variant_id).quantity)
            for i in order.items.select_related("variant")
        ],
        "ledger": order_ledger(order),
    }


def force_status(order: Order, status: str) -> Order:
    Order.objects.filter(pk=order.pk).update(status=status)
    order.refresh_from_db()
    return order


# --- legal transitions ---------------------------------------------------------------------


def test_a_paid_order_ships_is_delivered_and_completes(shop, shopper, creator, settings):
    settings.PAYOUT_HOLD_DAYS = 3
    order = PaidOrderFactory(buyer=shopper, shop=shop)

    ship_order(order=order, by=creator, carrier=" UPS ", tracking_number="1Z999AA10123456784")
    order.refresh_from_db()
    assert (order.status, order.carrier, order.tracking_number) == (
        S.SHIPPED,
        "UPS",
        "1Z999AA10123456784",
    )
    assert order.shipped_at is not None

    mark_delivered(order=order, by=creator)
    order.refresh_from_db()
    assert order.status == S.DELIVERED
    assert order.release_at == order.delivered_at + timedelta(days=3)

    complete_order(order=order, by=shopper)
    order.refresh_from_db()
    assert order.status == S.COMPLETED
    assert order.completed_at is not None
    assert list(order.events.values_list("kind", flat=True)) == [
        "placed",
        "paid",
        "shipped",
        "delivered",
        "completed",
    ]


def test_the_payout_hold_defaults_to_seven_days_after_delivery(shop, shopper, creator):
    order = PaidOrderFactory(buyer=shopper, shop=shop)
    ship_order(order=order, by=creator, carrier="DHL", tracking_number="JD0001")
    mark_delivered(order=order, by=creator)
    order.refresh_from_db()
    assert order.release_at - order.delivered_at == timedelta(days=7)


def test_staff_can_ship_and_deliver_for_the_seller(shop, shopper, staff):
    order = PaidOrderFactory(buyer=shopper, shop=shop)
    ship_order(order=order, by=staff, carrier="USPS", tracking_number="9400")
    mark_delivered(order=order, by=staff)
    order.refresh_from_db()
    assert order.status == S.DELIVERED
    assert order.events.get(kind="shipped").actor == staff


def test_an_unpaid_order_can_be_cancelled_and_its_stock_returns(variant, shopper, creator):
    order = OrderFactory(buyer=shopper, variant=variant, quantity=2)
    variant.refresh_from_db()
    assert variant.quantity == 3

    cancel_order(order=order, by=creator, reason="Buyer asked by message")

    order.refresh_from_db()
    variant.refresh_from_db()
    assert order.status == S.CANCELLED
    assert order.cancelled_at is not None
    assert variant.quantity == 5
    assert not order.refunds.exists()
    assert order.events.get(kind="cancelled").message == "Cancelled: Buyer asked by message"


def test_delivered_orders_complete_once_their_hold_has_passed(shop, shopper, creator):
    due = PaidOrderFactory(buyer=shopper, shop=shop)
    waiting = PaidOrderFactory(buyer=shopper, shop=shop)
    for order in (due, waiting):
        ship_order(order=order, by=creator, carrier="UPS", tracking_number="1Z")
        mark_delivered(order=order, by=creator)
    Order.objects.filter(pk=due.pk).update(release_at=timezone.now() - timedelta(minutes=1))

    assert complete_delivered_orders() == 1
    assert complete_delivered_orders() == 0
    due.refresh_from_db()
    waiting.refresh_from_db()
    assert (due.status, waiting.status) == (S.COMPLETED, S.DELIVERED)


# --- illegal transitions -------------------------------------------------------------------


def _act(action, order, by):
    if action == "ship":
        return ship_order(order=order, by=by, carrier="UPS", tracking_number="1Z")
    if action == "deliver":
        return mark_delivered(order=order, by=by)
    if action == "complete":
        return complete_order(order=order, by=by)
    if action == "cancel":
        return cancel_order(order=order, by=by, reason="Changed my mind")
    if action == "refund":
        return refund_order(order=order, by=by, amount=100)
    raise AssertionError(action)


@pytest.mark.parametrize(
    ("status", "action", "message"),
    [
        (
            S.PENDING_PAYMENT,
            "ship",
            "An order awaiting payment cannot be shipped; wait until it is paid.",
        ),
        (S.PENDING_PAYMENT, "deliver", "An order awaiting payment cannot be marked delivered."),
        (S.PENDING_PAYMENT, "complete", "A pending payment order cannot be completed."),
        (S.PENDING_PAYMENT, "refund", "An unpaid order cannot be refunded; cancel it instead."),
        (S.PAID, "deliver", "An order must be shipped before it is marked delivered."),
        (S.PAID, "complete", "Only a delivered order can be completed."),
        (S.SHIPPED, "ship", "This order is already shipped."),
        (S.SHIPPED, "cancel", "A shipped order cannot be cancelled; refund it instead."),
        (
            S.SHIPPED,
            "complete",
            "Only a delivered order can be completed; mark it delivered first.",
        ),
        (S.DELIVERED, "ship", "A delivered order cannot be shipped."),
        (S.DELIVERED, "cancel", "A delivered order cannot be cancelled; refund it instead."),
        (S.COMPLETED, "cancel", "A completed order cannot be cancelled; refund it instead."),
        (S.COMPLETED, "deliver", "A completed order cannot be marked delivered."),
        (S.CANCELLED, "ship", "A cancelled order cannot be shipped."),
        (S.CANCELLED, "cancel", "This order is already cancelled."),
        (S.CANCELLED, "complete", "A cancelled order cannot be completed."),
        (
            S.CANCELLED,
            "refund",
            "A cancelled order cannot be refunded; anything paid was refunded when it was "
            "cancelled.",
        ),
    ],
)
def test_an_illegal_transition_is_refused_with_a_clear_message_and_changes_nothing(
    shop, shopper, staff, status, action, message
):
    order = force_status(OrderFactory(buyer=shopper, shop=shop), status)
    before = snapshot(order)
    with pytest.raises(IllegalTransition) as refused:
        _act(action, order, staff)
    assert refused.value.message == message
    assert snapshot(order) == before


def test_shipping_needs_a_carrier_and_a_tracking_number(shop, shopper, creator):
    order = PaidOrderFactory(buyer=shopper, shop=shop)
    before = snapshot(order)
    with pytest.raises(ShopFeedError, match=r"Enter the tracking number\.") as refused:
        ship_order(order=order, by=creator, carrier="UPS", tracking_number="   ")
    assert refused.value.field == "tracking_number"
    with pytest.raises(ShopFeedError, match=r"Enter the carrier\."):
        ship_order(order=order, by=creator, carrier="", tracking_number="1Z")
    assert snapshot(order) == before


def test_a_cancellation_needs_a_reason(variant, shopper, creator):
    order = OrderFactory(buyer=shopper, variant=variant)
    before = snapshot(order)
    with pytest.raises(ShopFeedError, match=r"Enter the reason\."):
        cancel_order(order=order, by=creator, reason="  ")
    assert snapshot(order) == before


# --- who may act ---------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["ship", "deliver", "cancel", "refund"])
def test_another_seller_cannot_act_on_the_order(shop, other_shop, shopper, action):
    factory = ShippedOrderFactory if action == "deliver" else PaidOrderFactory
    order = factory(buyer=shopper, shop=shop)
    before = snapshot(order)
    with pytest.raises(NotAllowed, match="Only the shop's owner or staff"):
        _act(action, order, other_shop.owner)
    assert snapshot(order) == before


@pytest.mark.parametrize("action", ["ship", "cancel", "refund"])
def test_the_buyer_cannot_ship_cancel_or_refund_their_own_order(shop, shopper, action):
    order = PaidOrderFactory(buyer=shopper, shop=shop)
    before = snapshot(order)
    with pytest.raises(NotAllowed):
        _act(action, order, shopper)
    assert snapshot(order) == before


def test_the_seller_cannot_complete_an_order_for_the_buyer(shop, shopper, creator):
    order = DeliveredOrderFactory(buyer=shopper, shop=shop)
    with pytest.raises(NotAllowed, match="Only the buyer or staff"):
        complete_order(order=order, by=creator)
    order.refresh_from_db()
    assert order.status == S.DELIVERED


def test_staff_add_notes_and_nobody_else_can(shop, shopper, creator, staff):
    order = PaidOrderFactory(buyer=shopper, shop=shop)
    with pytest.raises(NotAllowed, match="Only staff"):
        add_note(order=order, by=creator, text="I am the seller")
    with pytest.raises(ShopFeedError, match=r"Enter the note\."):
        add_note(order=order, by=staff, text="")
    add_note(order=order, by=staff, text="Buyer called about the size.")
    note = order.events.get(kind="note")
    assert (note.message, note.actor) == ("Buyer called about the size.", staff)


# --- cancellation of a paid order: refund at Stripe, stock back, ledger reversed ------------


def test_cancelling_a_paid_order_refunds_it_at_stripe_and_returns_stock(
    localstripe, variant, shopper, creator
):
    order = PaidOrderFactory(buyer=shopper, variant=variant, quantity=2)
    variant.refresh_from_db()
    assert variant.quantity == 3
    assert order_ledger(order)[PAYABLE] == 5000 - 500

    cancel_order(order=order, by=creator, reason="Damaged in storage")

    order.refresh_from_db()
    variant.refresh_from_db()
    assert order.status == S.CANCELLED
    assert order.refunded_amount == 5000
    assert variant.quantity == 5
    refund = order.refunds.get()
    assert refund.status == Refund.Status.SUCCEEDED
    assert refund.stripe_refund_id.startswith("re_")
    assert refund.amount == 5000
    assert refund.idempotency_key == f"refund-{refund.pk}"
    at_stripe = localstripe_call(f"/v1/refunds/{refund.stripe_refund_id}", method="GET")
    assert at_stripe["amount"] == 5000
    assert at_stripe["payment_intent"] == order.checkout.payment_intent_id
    ledger = order_ledger(order)
    assert (ledger[PAYABLE], ledger[REVENUE], ledger[CLEARING]) == (0, 0, 0)
    assert [k for k in order.events.values_list("kind", flat=True)][-2:] == [
        "refunded",
        "cancelled",
    ]


def test_when_stripe_refuses_the_refund_the_order_is_not_cancelled(
    localstripe, variant, shopper, creator
):
    order = PaidOrderFactory(buyer=shopper, variant=variant, quantity=1)
    # An unpaid PaymentIntent: Stripe (localstripe) refuses to refund it.
    unpaid = gateway.create_payment_intent(
        amount=2500, currency="USD", idempotency_key=f"unpaid-{order.pk}", metadata={}
    )
    Checkout.objects.filter(pk=order.checkout_id).update(payment_intent_id=unpaid.id)
    before = snapshot(order)

    with pytest.raises(PaymentError, match="Nothing was refunded"):
        cancel_order(order=order, by=creator, reason="Damaged")

    after = snapshot(order)
    assert after["order"] == before["order"]
    assert after["stock"] == before["stock"]
    assert after["ledger"] == before["ledger"]
    failed = order.refunds.get()
    assert (failed.status, failed.stripe_refund_id) == (Refund.Status.FAILED, None)
    assert order.events.filter(kind="refund_failed").count() == 1


# --- refunds -------------------------------------------------------------------------------


def test_partial_refunds_then_one_beyond_the_remainder_is_refused(
    localstripe, variant, shopper, creator, staff
):
    order = PaidOrderFactory(buyer=shopper, variant=variant, quantity=2)  # $50.00
    refund_order(order=order, by=creator, amount=2000, reason="Late")
    refund_order(order=order, by=staff, amount=1000)
    before = snapshot(order)

    with pytest.raises(RefundTooLarge) as refused:
        refund_order(order=order, by=creator, amount=2001)

    assert "at most $20.00" in refused.value.message
    assert snapshot(order) == before
    order.refresh_from_db()
    assert order.refunded_amount == 3000
    assert order.status == S.PAID
    assert sorted(order.refunds.values_list("amount", "status")) == [
        (1000, "succeeded"),
        (2000, "succeeded"),
    ]


def test_two_partial_refunds_summing_to_the_total_reverse_the_fee_exactly(
    localstripe, shop, shopper, creator
):
    order = PaidOrderFactory(buyer=shopper, shop=shop, price_amount=3333)
    assert (order.total_amount, order.fee_amount) == (3333, 333)

    refund_order(order=order, by=creator, amount=1111)
    partway = order_ledger(order)
    assert (partway[PAYABLE], partway[REVENUE], partway[CLEARING]) == (2000, 222, -2222)

    refund_order(order=order, by=creator, amount=2222)
    ledger = order_ledger(order)
    assert (ledger[PAYABLE], ledger[REVENUE], ledger[CLEARING]) == (0, 0, 0)
    with pytest.raises(RefundTooLarge, match="nothing left to refund"):
        refund_order(order=order, by=creator, amount=1)


def test_a_refund_must_be_a_positive_whole_number_of_cents(shop, shopper, creator):
    order = PaidOrderFactory(buyer=shopper, shop=shop)
    before = snapshot(order)
    with pytest.raises(RefundTooLarge, match=r"at least \$0\.01"):
        refund_order(order=order, by=creator, amount=0)
    with pytest.raises(ShopFeedError, match="whole number of minor units"):
        refund_order(order=order, by=creator, amount=12.5)
    assert snapshot(order) == before


def test_a_refused_refund_is_kept_as_failed_and_moves_no_money(
    localstripe, variant, shopper, creator
):
    order = PaidOrderFactory(buyer=shopper, variant=variant)
    real_pi = order.checkout.payment_intent_id
    Checkout.objects.filter(pk=order.checkout_id).update(payment_intent_id="pi_doesnotexist")
    before = snapshot(order)

    with pytest.raises(PaymentError):
        refund_order(order=order, by=creator, amount=500)

    after = snapshot(order)
    assert after["order"] == before["order"]
    assert after["ledger"] == before["ledger"]
    assert order.refunds.get().status == Refund.Status.FAILED
    # The failed attempt does not hold back any of what can still be refunded.
    Checkout.objects.filter(pk=order.checkout_id).update(payment_intent_id=real_pi)
    refund_order(order=order, by=creator, amount=2500)
    order.refresh_from_db()
    assert order.refunded_amount == 2500


def test_an_interrupted_refund_is_finished_with_its_own_key_and_blocks_shipping_meanwhile(
    localstripe, variant, shopper, creator
):
    order = PaidOrderFactory(buyer=shopper, variant=variant)
    # A process that wrote the pending row and died before Stripe answered.
    with transaction.atomic():
        pending = fulfilment._open_refund(
            fulfilment._lock(order), by=creator, amount=1000, reason="Scratched"
        )
    with pytest.raises(Conflict, match="still being processed"):
        ship_order(order=order, by=creator, carrier="UPS", tracking_number="1Z")
    with pytest.raises(RefundTooLarge, match=r"at most \$15\.00"):
        refund_order(order=order, by=creator, amount=1501)

    settled = settle_pending_refund(refund_id=pending.pk)

    assert settled.status == Refund.Status.SUCCEEDED
    assert settled.stripe_refund_id
    order.refresh_from_db()
    assert order.refunded_amount == 1000
    ship_order(order=order, by=creator, carrier="UPS", tracking_number="1Z")
    order.refresh_from_db()
    assert order.status == S.SHIPPED


def test_a_refund_after_the_payout_release_comes_out_of_the_withdrawable_balance(
    localstripe, variant, shopper, creator
):
    order = DeliveredOrderFactory(buyer=shopper, variant=variant)
    assert payouts.release_due_payables(now=order.release_at) == [order.pk]
    refund_order(order=order, by=creator, amount=1000)
    ledger = order_ledger(order)
    assert ledger[PAYABLE] == 0
    assert ledger["seller_available"] == (2500 - 250) - (1000 - 100)


@hsettings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    price=st.integers(min_value=101, max_value=99_999),
    cuts=st.lists(st.integers(min_value=1, max_value=1000), min_size=1, max_size=4),
)
def test_any_series_of_refunds_keeps_the_orders_books_in_step(
    localstripe, shop, shopper, creator, price, cuts
):
    order = PaidOrderFactory(buyer=shopper, shop=shop, price_amount=price)
    for cut in cuts:
        amount = max(1, order.refundable_amount * cut // 1000)
        if amount > order.refundable_amount:
            break
        refund_order(order=order, by=creator, amount=amount)
        order.refresh_from_db()
    ledger = order_ledger(order)
    fee_back = accounting.fee_refunded(order, order.refunded_amount)
    assert ledger[CLEARING] == -(order.total_amount - order.refunded_amount)
    assert ledger[PAYABLE] == accounting.seller_net(order)
    assert ledger[REVENUE] == order.fee_amount - fee_back
    assert order.refunded_amount <= order.total_amount


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_refunds_at_once_cannot_together_exceed_what_was_paid(
    localstripe, variant, shopper, creator
):
    order = PaidOrderFactory(buyer=shopper, variant=variant, quantity=2)  # $50.00
    barrier = threading.Barrier(2)
    results: list = []

    def attempt():
        try:
            barrier.wait()
            refund_order(order=Order.objects.get(pk=order.pk), by=creator, amount=3000)
            results.append("ok")
        except RefundTooLarge:
            results.append("too large")
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(results) == ["ok", "too large"]
    order.refresh_from_db()
    assert order.refunded_amount == 3000
    assert order.refunds.count() == 1


# --- emails --------------------------------------------------------------------------------


def test_paying_emails_the_buyer_a_confirmation_and_the_seller_a_new_order(shop, shopper, creator):
    order = PaidOrderFactory(buyer=shopper, shop=shop, price_amount=1999)  # settled, committed
    by_recipient = {m.to[0]: m for m in mail.outbox}
    assert set(by_recipient) == {shopper.email, creator.email}
    confirmation = by_recipient[shopper.email]
    assert confirmation.subject == (
        f"Your ShopFeed order #{order.pk} from {shop.name} is confirmed"
    )
    item = order.items.get()
    assert f"1 × {item.product_title}" in confirmation.body
    assert "$19.99" in confirmation.body
    assert f"/orders/{order.pk}/" in confirmation.body
    assert by_recipient[creator.email].subject == f"New order #{order.pk} for {shop.name}: $19.99"


def test_shipping_emails_the_buyer_the_tracking_number(
    django_capture_on_commit_callbacks, shop, shopper, creator
):
    order = PaidOrderFactory(buyer=shopper, shop=shop)
    mail.outbox.clear()  # the payment's own emails
    with django_capture_on_commit_callbacks(execute=True):
        ship_order(order=order, by=creator, carrier="DHL", tracking_number="JD014600006")
    [message] = mail.outbox
    assert message.to == [shopper.email]
    assert message.subject == f"Your ShopFeed order #{order.pk} has shipped"
    assert "Carrier: DHL" in message.body
    assert "Tracking number: JD014600006" in message.body


def test_a_refund_emails_the_buyer_the_amount(
    django_capture_on_commit_callbacks, localstripe, variant, shopper, creator
):
    order = PaidOrderFactory(buyer=shopper, variant=variant)
    mail.outbox.clear()  # the payment's own emails
    with django_capture_on_commit_callbacks(execute=True):
        refund_order(order=order, by=creator, amount=1250, reason="Missing button")
    [message] = mail.outbox
    assert message.to == [shopper.email]
    assert message.subject == f"$12.50 refunded on your ShopFeed order #{order.pk}"
    assert "Reason: Missing button" in message.body
    assert "$12.50 of $25.00" in message.body


def test_refused_actions_send_no_email(django_capture_on_commit_callbacks, shop, shopper, creator):
    order = OrderFactory(buyer=shopper, shop=shop)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(IllegalTransition):
        ship_order(order=order, by=creator, carrier="UPS", tracking_number="1Z")
    assert mail.outbox == []
    assert not OrderEvent.objects.filter(order=order, kind="shipped").exists()
