"""Coin test data through the real services: packs as staff make them, purchases started by
gifts.coins.services and paid the way a buyer pays (a test card confirmed at localstripe),
credited by the verified webhook's handler."""

from gifts.coins import services as coin_services
from gifts.coins.models import CoinPack, CoinPackPrice, CoinPurchase
from orders.models import StripeEvent
from orders.payments import events
from orders.tests.payment_helpers import event_payload, pay, post_webhook, sign


def make_pack(*, coins: int = 350, usd: int = 449, eur: int | None = None, **kw) -> CoinPack:
    """A pack as staff make it in the admin: coins and a price per currency."""
    pack = CoinPack.objects.create(coins=coins, **kw)
    CoinPackPrice.objects.create(pack=pack, currency="USD", price_amount=usd)
    if eur is not None:
        CoinPackPrice.objects.create(pack=pack, currency="EUR", price_amount=eur)
    return pack


def deliver(client, payload: bytes):
    """Post like Stripe does, then run what the worker would run."""
    response = post_webhook(client, payload, sign(payload))
    assert response.status_code == 200, response.content
    for event in StripeEvent.objects.filter(processed_at__isnull=True).order_by("pk"):
        events.process_stripe_event(event_pk=event.pk)
    return response


def succeeded_payload(purchase: CoinPurchase, **kw) -> bytes:
    return event_payload(
        "payment_intent.succeeded",
        {
            "id": purchase.payment_intent_id,
            "object": "payment_intent",
            "metadata": {"coin_purchase_id": str(purchase.pk)},
        },
        **kw,
    )


def paid_purchase(client, *, buyer, pack=None, coins=None) -> CoinPurchase:
    """A purchase paid with the test card at localstripe and credited by its webhook."""
    purchase = coins_start(buyer=buyer, pack=pack, coins=coins)
    pay(purchase.payment_intent_id)
    deliver(client, succeeded_payload(purchase))
    purchase.refresh_from_db()
    assert purchase.status == CoinPurchase.Status.PAID
    return purchase


def coins_start(*, buyer, pack=None, coins=None) -> CoinPurchase:
    return coin_services.start_purchase(buyer=buyer, pack=pack, coins=coins)


def dispute_payload(purchase, *, dispute_id="dp_test_1", **obj):
    return event_payload(
        "charge.dispute.created",
        {
            "id": dispute_id,
            "object": "dispute",
            "amount": purchase.total_amount,
            "currency": purchase.currency.lower(),
            "payment_intent": purchase.payment_intent_id,
            "reason": "fraudulent",
            "status": "needs_response",
            **obj,
        },
    )
