"""Test helpers for payments: act as the buyer's browser at localstripe, and as Stripe's
webhook sender (signed exactly like Stripe: t=<ts>,v1=HMAC-SHA256(secret, "<t>.<payload>"))."""

import hashlib
import hmac
import json
import time
import urllib.parse
import urllib.request
import uuid

from django.conf import settings

from orders.checkout.services import LineRequest, start_checkout

ADDRESS = {
    "full_name": "Sam Shopper",
    "line1": "1 Main St",
    "city": "Springfield",
    "region": "NY",  # 12345 is a New York ZIP code
    "postal_code": "12345",
    "country": "US",
}


def checkout_for(buyer, *variants, quantity=1):
    return start_checkout(
        buyer=buyer, lines=[LineRequest(v.pk, quantity) for v in variants], address=ADDRESS
    )


def localstripe_call(path: str, data: dict | None = None, *, method: str = "POST") -> dict:
    body = urllib.parse.urlencode(data or {}).encode() if method == "POST" else None
    request = urllib.request.Request(
        f"{settings.STRIPE_API_BASE}{path}",
        data=body,
        method=method,
        headers={"Authorization": f"Bearer {settings.STRIPE_SECRET_KEY}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
    return json.loads(text) if text else {}


def create_payment_intent(*, amount: int, currency: str, checkout_id: int) -> dict:
    """A PaymentIntent made behind our back (our bookkeeping never hears of its id)."""
    return localstripe_call(
        "/v1/payment_intents",
        {"amount": amount, "currency": currency.lower(), "metadata[checkout_id]": checkout_id},
    )


def pay(payment_intent_id: str, card: str = "4242424242424242") -> dict:
    """What Stripe.js does for the buyer: a card payment method, attached, then confirmed."""
    pm = localstripe_call(
        "/v1/payment_methods",
        {
            "type": "card",
            "card[number]": card,
            "card[exp_month]": 12,
            "card[exp_year]": 2040,
            "card[cvc]": "123",
        },
    )
    localstripe_call(f"/v1/payment_intents/{payment_intent_id}", {"payment_method": pm["id"]})
    return localstripe_call(f"/v1/payment_intents/{payment_intent_id}/confirm")


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


def wait_until(predicate, *, timeout: float = 20, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"not true within {timeout} s: {predicate.__doc__ or predicate}")
