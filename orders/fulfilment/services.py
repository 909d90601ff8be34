"""After payment: shipping, delivery, completion, cancellation, refunds and staff notes.

Every change locks the order row first and checks the move against `orders.states`, so two
people acting on one order at once cannot both succeed. Refunds talk to Stripe in three
steps: the Refund row (with its idempotency key "refund-<id>") is written and committed
before the call, so a crash mid-call leaves a pending row that `settle_pending_refund`
can finish with the same key; the money (order.refunded_amount and the ledger) moves only
after Stripe accepted. A refund still in flight counts against what is left to refund.
"""

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from shopfeed.errors import Conflict, NotAllowed, ShopFeedError
from shops.money import format_money

from .. import emails, gateway, states
from ..checkout import stock
from ..errors import PaymentError, RefundTooLarge
from ..ledger import accounting
from ..models import Order, OrderEvent, Refund

S = Order.Status

CARRIER_MAX = Order._meta.get_field("carrier").max_length
TRACKING_MAX = Order._meta.get_field("tracking_number").max_length
REASON_MAX = Refund._meta.get_field("reason").max_length
NOTE_MAX = 5000


# --- helpers -------------------------------------------------------------------------------


def _lock(order: Order | int) -> Order:
    pk = order.pk if isinstance(order, Order) else order
    return (
        Order.objects.select_for_update(of=("self",))
        .select_related("shop", "checkout", "buyer")
        .get(pk=pk)
    )


def _is_staff(user) -> bool:
    return bool(user is not None and getattr(user, "is_staff", False) and user.is_active)


def is_seller(order: Order, user) -> bool:
    return user is not None and user.is_authenticated and order.shop.owner_id == user.pk


def _require_seller_or_staff(order: Order, by, doing: str) -> None:
    if not (is_seller(order, by) or _is_staff(by)):
        raise NotAllowed(f"Only the shop's owner or staff can {doing} this order.")


def _event(order: Order, kind: str, *, by=None, message: str = "", **data) -> OrderEvent:
    return OrderEvent.objects.create(
        order=order,
        kind=kind,
        actor=by if by is not None and by.is_authenticated else None,
        message=message,
        data=data,
    )


def _text(value, *, field: str, label: str, max_length: int | None, required: bool) -> str:
    value = (value or "").strip()
    if required and not value:
        raise ShopFeedError(f"Enter the {label}.", code="required", field=field)
    if max_length is not None and len(value) > max_length:
        raise ShopFeedError(
            f"The {label} can be at most {max_length} characters.", code="too_long", field=field
        )
    return value


def _money(order: Order, amount: int) -> str:
    return format_money(amount, order.currency)


def _refunds_in_flight(order: Order) -> int:
    """Refunds written but not yet answered by Stripe (they may still succeed)."""
    total = (
        Refund.objects.filter(
            order=order, status=Refund.Status.PENDING, stripe_refund_id__isnull=True
        ).aggregate(total=Sum("amount"))["total"]
        or 0
    )
    return int(total)


def _refuse_while_refunding(order: Order) -> None:
    if _refunds_in_flight(order):
        raise Conflict(
            "A refund on this order is still being processed; try again in a moment.",
            code="refund_in_flight",
        )


# --- shipping, delivery, completion --------------------------------------------------------


@transaction.atomic
def ship_order(*, order: Order, by, carrier: str, tracking_number: str) -> Order:
    order = _lock(order)
    _require_seller_or_staff(order, by, "ship")
    states.check_transition(order, S.SHIPPED)
    _refuse_while_refunding(order)
    carrier = _text(
        carrier, field="carrier", label="carrier", max_length=CARRIER_MAX, required=True
    )
    tracking_number = _text(
        tracking_number,
        field="tracking_number",
        label="tracking number",
        max_length=TRACKING_MAX,
        required=True,
    )
    order.status = S.SHIPPED
    order.carrier = carrier
    order.tracking_number = tracking_number
    order.shipped_at = timezone.now()
    order.save(update_fields=["status", "carrier", "tracking_number", "shipped_at", "updated_at"])
    _event(
        order,
        "shipped",
        by=by,
        message=f"Shipped with {carrier}, tracking number {tracking_number}.",
        carrier=carrier,
        tracking_number=tracking_number,
    )
    emails.order_shipped(order)
    return order


@transaction.atomic
def mark_delivered(*, order: Order, by) -> Order:
    """Delivered; the seller's payable becomes withdrawable PAYOUT_HOLD_DAYS later."""
    order = _lock(order)
    _require_seller_or_staff(order, by, "mark delivered")
    states.check_transition(order, S.DELIVERED)
    now = timezone.now()
    order.status = S.DELIVERED
    order.delivered_at = now
    order.release_at = now + timedelta(days=settings.PAYOUT_HOLD_DAYS)
    order.save(update_fields=["status", "delivered_at", "release_at", "updated_at"])
    _event(order, "delivered", by=by, message="Delivered.", release_at=order.release_at.isoformat())
    return order


@transaction.atomic
def complete_order(*, order: Order, by=None) -> Order:
    """Close a delivered order: the buyer confirms, staff close it, or (by=None) the system."""
    order = _lock(order)
    if by is not None and not (order.buyer_id == by.pk or _is_staff(by)):
        raise NotAllowed("Only the buyer or staff can complete this order.")
    states.check_transition(order, S.COMPLETED)
    order.status = S.COMPLETED
    order.completed_at = timezone.now()
    order.save(update_fields=["status", "completed_at", "updated_at"])
    _event(order, "completed", by=by, message="Completed.")
    return order


def complete_delivered_orders(*, now: datetime | None = None) -> int:
    """Complete every delivered order whose hold period has passed (safe to run repeatedly)."""
    now = now or timezone.now()
    ids = list(
        Order.objects.filter(status=S.DELIVERED, release_at__lte=now).values_list("pk", flat=True)
    )
    done = 0
    for pk in ids:
        with transaction.atomic():
            order = _lock(pk)
            if order.status != S.DELIVERED:
                continue  # someone else got there first
            complete_order(order=order, by=None)
            done += 1
    return done


# --- notes ---------------------------------------------------------------------------------


@transaction.atomic
def add_note(*, order: Order, by, text: str) -> OrderEvent:
    """A staff note on the order's history (not shown to the buyer or the seller)."""
    if not _is_staff(by):
        raise NotAllowed("Only staff can add notes to an order.")
    text = _text(text, field="text", label="note", max_length=NOTE_MAX, required=True)
    order = _lock(order)
    return _event(order, "note", by=by, message=text)


# --- refunds -------------------------------------------------------------------------------


def _validate_amount(amount) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise ShopFeedError(
            "A refund amount is a whole number of minor units (cents).",
            code="bad_amount",
            field="amount",
        )
    return amount


def _open_refund(order: Order, *, by, amount: int, reason: str) -> Refund:
    """Check the amount against what is left and write the pending Refund row (order locked)."""
    states.check_refundable(order)
    if amount < 1:
        raise RefundTooLarge(
            f"A refund must be at least {_money(order, 1)}.",
            code="refund_amount_invalid",
            field="amount",
        )
    left = order.refundable_amount - _refunds_in_flight(order)
    if left <= 0:
        raise RefundTooLarge(
            "This order has been refunded in full; there is nothing left to refund.", field="amount"
        )
    if amount > left:
        raise RefundTooLarge(
            f"You can refund at most {_money(order, left)} on this order "
            f"({_money(order, order.total_amount)} paid, "
            f"{_money(order, order.total_amount - left)} already refunded).",
            field="amount",
        )
    refund = Refund.objects.create(
        order=order,
        amount=amount,
        currency=order.currency,
        reason=reason,
        created_by=by if by is not None and by.is_authenticated else None,
        # Placeholder until the row has its id; replaced before any call to Stripe.
        idempotency_key=f"new-{uuid.uuid4().hex}",
    )
    refund.idempotency_key = f"refund-{refund.pk}"
    refund.save(update_fields=["idempotency_key"])
    return refund


def _send_refund(refund: Refund, *, by) -> Refund:
    """Ask Stripe for the refund, then record the answer; raises PaymentError if refused.

    Called outside any lock: the pending row already reserves its amount.
    """
    pi = refund.order.checkout.payment_intent_id
    info, failure = None, None
    if not pi:
        failure = PaymentError("This order has no Stripe payment to refund.")
    else:
        try:
            info = gateway.create_refund(
                payment_intent_id=pi,
                amount=refund.amount,
                idempotency_key=refund.idempotency_key,
                metadata={"order_id": str(refund.order_id), "refund_id": str(refund.pk)},
            )
        except PaymentError as exc:
            failure = exc
    if info is not None and info.status in ("failed", "canceled"):
        failure = PaymentError(f"Stripe could not make the refund (status {info.status}).")

    with transaction.atomic():
        order = _lock(refund.order_id)
        refund = Refund.objects.select_for_update().get(pk=refund.pk)
        refund.order = order
        if refund.status != Refund.Status.PENDING or refund.stripe_refund_id:
            return refund  # already settled by another attempt
        if failure is not None:
            refund.status = Refund.Status.FAILED
            refund.save(update_fields=["status", "updated_at"])
            _event(
                order,
                "refund_failed",
                by=by,
                message=f"Refund of {_money(order, refund.amount)} failed: {failure.message}",
                refund_id=refund.pk,
            )
        else:
            assert info is not None  # no failure: Stripe answered
            refunded_before = order.refunded_amount
            refund.stripe_refund_id = info.id
            refund.status = (
                Refund.Status.SUCCEEDED if info.status == "succeeded" else Refund.Status.PENDING
            )
            refund.save(update_fields=["stripe_refund_id", "status", "updated_at"])
            order.refunded_amount = refunded_before + refund.amount
            order.save(update_fields=["refunded_amount", "updated_at"])
            accounting.post_refund(refund, refunded_before=refunded_before)
            _event(
                order,
                "refunded",
                by=by,
                message=f"Refunded {_money(order, refund.amount)}"
                + (f": {refund.reason}" if refund.reason else "."),
                refund_id=refund.pk,
                amount=refund.amount,
                stripe_refund_id=info.id,
            )
            emails.order_refunded(refund)
    if failure is not None:
        raise PaymentError(f"{failure.message} Nothing was refunded.") from failure
    return refund


def refund_order(*, order: Order, by, amount: int, reason: str = "") -> Refund:
    """Refund part or all of what was paid, through Stripe; by the shop's owner or staff.

    Raises RefundTooLarge beyond what is left, PaymentError if Stripe refuses (the Refund
    row is then kept as failed and no money moves).
    """
    amount = _validate_amount(amount)
    reason = _text(reason, field="reason", label="reason", max_length=REASON_MAX, required=False)
    with transaction.atomic():
        locked = _lock(order)
        _require_seller_or_staff(locked, by, "refund")
        refund = _open_refund(locked, by=by, amount=amount, reason=reason)
    return _send_refund(refund, by=by)


def settle_pending_refund(*, refund_id: int) -> Refund:
    """Finish a refund whose process died before Stripe answered (same idempotency key)."""
    refund = Refund.objects.select_related("order__checkout").get(pk=refund_id)
    if refund.status != Refund.Status.PENDING or refund.stripe_refund_id:
        return refund
    return _send_refund(refund, by=None)


# --- cancellation --------------------------------------------------------------------------


def _finish_cancel(order: Order, *, by, reason: str) -> Order:
    for item in order.items.all():
        stock.release(variant_id=item.variant_id, quantity=item.quantity)
    order.status = S.CANCELLED
    order.cancelled_at = timezone.now()
    order.save(update_fields=["status", "cancelled_at", "updated_at"])
    _event(order, "cancelled", by=by, message=f"Cancelled: {reason}", reason=reason)
    return order


def cancel_order(*, order: Order, by, reason: str) -> Order:
    """Cancel before shipping: stock goes back, and a paid order is refunded in full first.

    If Stripe refuses the refund, the order is not cancelled (PaymentError).
    """
    with transaction.atomic():
        locked = _lock(order)
        _require_seller_or_staff(locked, by, "cancel")
        states.check_transition(locked, S.CANCELLED)
        _refuse_while_refunding(locked)
        reason = _text(reason, field="reason", label="reason", max_length=REASON_MAX, required=True)
        owed = locked.refundable_amount if locked.status == S.PAID else 0
        if owed <= 0:
            return _finish_cancel(locked, by=by, reason=reason)
        refund = _open_refund(
            locked, by=by, amount=owed, reason=f"Order cancelled: {reason}"[:REASON_MAX]
        )
    # Shipping is refused while this refund is in flight, so the order is still cancellable.
    refund = _send_refund(refund, by=by)
    if refund.status == Refund.Status.FAILED:
        raise PaymentError("The refund failed, so the order was not cancelled.")
    with transaction.atomic():
        locked = _lock(order)
        states.check_transition(locked, S.CANCELLED)
        return _finish_cancel(locked, by=by, reason=reason)
