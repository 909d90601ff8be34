"""Refunds of a whole payment (paid twice, or paid after the items sold out), and Stripe's word
on refunds recorded on our Refund rows (partial refunds are orders.fulfilment's)."""

import logging

from django.db import transaction

from .. import gateway
from ..errors import PaymentError
from ..models import Checkout, Order, OrderEvent, Refund

logger = logging.getLogger(__name__)

# OrderEvent kinds that make a refund of a whole payment durable before Stripe is called.
REFUND_DUE = "payment_refund_due"
REFUNDED = "payment_refunded"


# --- refunds of a whole payment (late or duplicate) --------------------------------------------


def record_once(checkout: Checkout, *, kind: str, message: str, data: dict) -> None:
    """One event of this kind and data on each of the checkout's orders, however often called."""
    orders = list(Order.objects.filter(checkout=checkout).order_by("pk"))
    if OrderEvent.objects.filter(order__in=orders, kind=kind, data=data).exists():
        return
    OrderEvent.objects.bulk_create(
        [OrderEvent(order=o, kind=kind, message=message, data=data) for o in orders]
    )


def refund_decided(checkout: Checkout, key: str) -> bool:
    return OrderEvent.objects.filter(
        order__checkout=checkout, kind=REFUND_DUE, data__idempotency_key=key
    ).exists()


def refund_due(checkout: Checkout, pi: gateway.PaymentIntentInfo, *, key: str, reason: str):
    """Record (durably, with the checkout) that a payment must go back; refund after commit.

    The record comes first so that a retry never sells stock for money already returned.
    """
    if not refund_decided(checkout, key):
        record_once(
            checkout,
            kind=REFUND_DUE,
            message=f"Payment refunded in full: {reason}.",
            data={
                "idempotency_key": key,
                "payment_intent_id": pi.id,
                "amount": pi.amount_received,
            },
        )
    checkout_id = checkout.pk
    transaction.on_commit(lambda: refund_due_payments(checkout_id=checkout_id), robust=True)


@transaction.atomic
def refund_due_payments(*, checkout_id: int) -> int:
    """Send the refunds decided for this checkout that Stripe has not made yet; returns how many."""
    checkout = Checkout.objects.select_for_update().get(pk=checkout_id)
    events = OrderEvent.objects.filter(order__checkout=checkout, kind__in=[REFUND_DUE, REFUNDED])
    done = {e.data.get("idempotency_key") for e in events if e.kind == REFUNDED}
    due = {e.data["idempotency_key"]: e.data for e in events if e.kind == REFUND_DUE}
    sent = 0
    for key, data in due.items():
        if key in done:
            continue
        refund = gateway.create_refund(
            payment_intent_id=data["payment_intent_id"],
            amount=data["amount"],
            idempotency_key=key,
            metadata={"checkout_id": str(checkout.pk), "refund_key": key},
        )
        record_once(
            checkout,
            kind=REFUNDED,
            message="The payment was refunded.",
            data={"idempotency_key": key, "stripe_refund_id": refund.id, "amount": refund.amount},
        )
        sent += 1
    return sent


def retry_due_refunds() -> int:
    events = OrderEvent.objects.filter(kind__in=[REFUND_DUE, REFUNDED]).values_list(
        "kind", "data", "order__checkout_id"
    )
    done = {data.get("idempotency_key") for kind, data, _ in events if kind == REFUNDED}
    checkouts = {
        cid
        for kind, data, cid in events
        if kind == REFUND_DUE and data["idempotency_key"] not in done
    }
    sent = 0
    for checkout_id in sorted(checkouts):
        try:
            sent += refund_due_payments(checkout_id=checkout_id)
        except PaymentError:
            logger.exception("refund for checkout %s failed; will retry", checkout_id)
    return sent


# --- refunds recorded from Stripe ------------------------------------------------------------

_REFUND_STATUS = {
    "succeeded": Refund.Status.SUCCEEDED,
    "failed": Refund.Status.FAILED,
    "canceled": Refund.Status.FAILED,
    "pending": Refund.Status.PENDING,
    "requires_action": Refund.Status.PENDING,
}


def record_refund_event(payload: dict) -> None:
    """charge.refunded / refund.* : note Stripe's status on our Refund row when we have one."""
    obj = payload.get("data", {}).get("object", {}) or {}
    if obj.get("object") == "charge":
        refunds = (obj.get("refunds") or {}).get("data") or []
    else:
        refunds = [obj]
    for data in refunds:
        _record_refund(data)


def _record_refund(data: dict) -> None:
    stripe_id = data.get("id")
    if not stripe_id:
        return
    with transaction.atomic():
        refund = Refund.objects.select_for_update().filter(stripe_refund_id=stripe_id).first()
        if refund is None:
            ours = str((data.get("metadata") or {}).get("refund_id", ""))
            if ours.isdigit() and Refund.objects.filter(pk=int(ours)).exists():
                # Ours, still in flight: the refund service records Stripe's answer (and posts
                # the ledger) under the same idempotency key; taking the row here would skip it.
                logger.info("refund %s reported before its row was recorded", ours)
            return
        status = _REFUND_STATUS.get(data.get("status") or "", refund.status)
        if refund.status != Refund.Status.PENDING and status == Refund.Status.PENDING:
            status = refund.status  # never back to pending
        if status != refund.status:
            refund.status = status
            refund.save(update_fields=["status", "updated_at"])
