"""Test helpers for payments: act as the buyer's browser at localstripe (what Stripe.js does),
and as Stripe's webhook sender (signed exactly like Stripe: t=<ts>,v1=HMAC-SHA256(secret,
"<t>.<payload>"))."""

import hashlib
import hmac
import json
import time
import urllib.parse
import uuid

from django.conf import settings

from shopfeed.testing import localstripe_call

TEST_CARD = "4242424242424242"


def card_payment_method(number: str = TEST_CARD) -> str:
    """A card PaymentMethod at localstripe (Stripe.js creates it; the number never reaches us)."""
    pm = localstripe_call(
        "/v1/payment_methods",
        {
            "type": "card",
            "card[number]": number,
            "card[exp_month]": 12,
            "card[exp_year]": 2040,
            "card[cvc]": "123",
        },
    )
    return pm["id"]


def pay(payment_intent_id: str, card: str = TEST_CARD) -> dict:
    """What Stripe.js does for the buyer: a card payment method, attached, then confirmed
    (localstripe does not take `payment_method` on confirm)."""
    pm = card_payment_method(card)
    localstripe_call(f"/v1/payment_intents/{payment_intent_id}", {"payment_method": pm})
    return localstripe_call(f"/v1/payment_intents/{payment_intent_id}/confirm")


def payment_intent(payment_intent_id: str) -> dict:
    return localstripe_call(f"/v1/payment_intents/{payment_intent_id}", method="GET")


def create_payment_intent(*, amount: int, currency: str, checkout_id: int) -> dict:
    """A PaymentIntent made behind our back (our bookkeeping never hears of its id)."""
    return localstripe_call(
        "/v1/payment_intents",
        {"amount": amount, "currency": currency.lower(), "metadata[checkout_id]": checkout_id},
    )


def refunds_of(payment_intent_id: str) -> list[dict]:
    query = urllib.parse.urlencode({"payment_intent": payment_intent_id})
    return localstripe_call(f"/v1/refunds?{query}", method="GET")["data"]


def sign(payload: bytes, *, secret: str | None = None, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    key = (secret or settings.STRIPE_WEBHOOK_SECRET).encode()
    digest = hmac.new(key, f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def event_payload(event_type: str, obj: dict, *, event_id: str | None = None) -> bytes:
    event = {
        "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "type": event_type,
        "created": int(time.time()),
        "api_version": "2024-06-20",
        "data": {"object": obj},
    }
    return json.dumps(event).encode()


def post_webhook(client, payload: bytes, signature: str | None):
    headers = {"HTTP_STRIPE_SIGNATURE": signature} if signature is not None else {}
    return client.post("/stripe/webhook/", data=payload, content_type="application/json", **headers)
