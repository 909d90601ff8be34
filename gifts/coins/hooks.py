"""Coin purchases hooked into orders' Stripe machinery (called from GiftsConfig.ready)."""

from orders.payments import events, reconcile

from . import services


def register() -> None:
    events.register_event_handler("payment_intent.succeeded", services.on_payment_succeeded)
    events.register_event_handler("payment_intent.canceled", services.on_payment_canceled)
    events.register_event_handler("charge.dispute.created", services.dispute_opened)
    events.register_event_handler("charge.dispute.updated", services.dispute_updated)
    events.register_event_handler("charge.dispute.closed", services.dispute_updated)
    for event_type in ("charge.refunded", "refund.updated", "refund.failed"):
        events.register_event_handler(event_type, services.record_refund_event)
    reconcile.register_reconciler(
        services.reconcile_purchases, sweeper=services.sweep_missed_payments
    )
