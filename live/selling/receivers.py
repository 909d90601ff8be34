"""What orders tells live (orders.signals, sent upward): deal units of a checkout that will not
be paid go back; a paid checkout's live orders are counted and announced. live/apps.py
connects these at startup."""

from django.dispatch import receiver

from orders.signals import checkout_paid, checkout_released

from . import purchases, services


@receiver(checkout_released, dispatch_uid="live.selling.on_checkout_released")
def _on_checkout_released(sender, *, checkout_id: int, **kwargs) -> None:
    services.release_deal_claim(checkout_id=checkout_id)


@receiver(checkout_paid, dispatch_uid="live.selling.on_checkout_paid")
def _on_checkout_paid(sender, *, checkout_id: int, **kwargs) -> None:
    services.reclaim_after_late_payment(checkout_id=checkout_id)
    purchases.record_purchases(checkout_id=checkout_id)
