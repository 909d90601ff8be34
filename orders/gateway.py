"""The one door to Stripe (DESIGN.md section 3). Nothing else imports `stripe`.

The official SDK talks to `settings.STRIPE_API_BASE`: localstripe on loopback in development
and tests, Stripe itself in production; the code path is the same. Every call that creates
something carries an idempotency key built from our own row id.
"""

from dataclasses import dataclass

import stripe
from django.conf import settings

from .errors import PaymentError


class InvalidWebhook(Exception):
    """The webhook's payload or signature is not valid."""


@dataclass(frozen=True)
class PaymentIntentInfo:
    id: str
    status: str
    amount: int
    amount_received: int
    currency: str
    client_secret: str
    metadata: dict


@dataclass(frozen=True)
class RefundInfo:
    id: str
    status: str
    amount: int


@dataclass(frozen=True)
class TransferInfo:
    id: str
    amount: int
    destination: str


def _client() -> stripe.StripeClient:
    base = {"api": settings.STRIPE_API_BASE} if settings.STRIPE_API_BASE else None
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY, base_addresses=base, max_network_retries=2
    )


def _call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except stripe.StripeError as exc:
        message = getattr(exc, "user_message", None) or str(exc) or "Stripe refused the request."
        raise PaymentError(message) from exc


def _pi(obj) -> PaymentIntentInfo:
    data = obj.to_dict()
    return PaymentIntentInfo(
        id=data["id"],
        status=data["status"],
        amount=int(data["amount"]),
        amount_received=int(data.get("amount_received") or 0),
        currency=str(data["currency"]).upper(),
        client_secret=data.get("client_secret") or "",
        metadata=dict(data.get("metadata") or {}),
    )


def create_payment_intent(
    *, amount: int, currency: str, idempotency_key: str, metadata: dict[str, str]
) -> PaymentIntentInfo:
    pi = _call(
        _client().v1.payment_intents.create,
        params={
            "amount": amount,
            "currency": currency.lower(),
            "metadata": metadata,
            "payment_method_types": ["card"],
        },
        options={"idempotency_key": idempotency_key},
    )
    return _pi(pi)


def retrieve_payment_intent(payment_intent_id: str) -> PaymentIntentInfo:
    return _pi(_call(_client().v1.payment_intents.retrieve, payment_intent_id))


def cancel_payment_intent(payment_intent_id: str, *, idempotency_key: str) -> PaymentIntentInfo:
    pi = _call(
        _client().v1.payment_intents.cancel,
        payment_intent_id,
        options={"idempotency_key": idempotency_key},
    )
    return _pi(pi)


def create_refund(
    *, payment_intent_id: str, amount: int, idempotency_key: str, metadata: dict[str, str]
) -> RefundInfo:
    refund = _call(
        _client().v1.refunds.create,
        params={"payment_intent": payment_intent_id, "amount": amount, "metadata": metadata},
        options={"idempotency_key": idempotency_key},
    )
    return RefundInfo(id=refund.id, status=refund.status, amount=int(refund.amount))


def create_transfer(
    *, amount: int, currency: str, destination: str, idempotency_key: str, metadata: dict[str, str]
) -> TransferInfo:
    """A Stripe Connect transfer to a seller's connected account."""
    transfer = _call(
        _client().v1.transfers.create,
        params={
            "amount": amount,
            "currency": currency.lower(),
            "destination": destination,
            "metadata": metadata,
        },
        options={"idempotency_key": idempotency_key},
    )
    return TransferInfo(id=transfer.id, amount=int(transfer.amount), destination=destination)


def construct_event(payload: bytes, sig_header: str | None) -> dict:
    """Verify a webhook's signature (300 s tolerance, never disabled) and parse it."""
    if not sig_header:
        raise InvalidWebhook("missing Stripe-Signature header")
    try:
        event = stripe.Webhook.construct_event(
            payload, sig_header, settings.STRIPE_WEBHOOK_SECRET, tolerance=300
        )
    except (ValueError, stripe.SignatureVerificationError) as exc:
        raise InvalidWebhook(str(exc)) from exc
    return event.to_dict()


def confirm_payment_intent(
    payment_intent_id: str, *, payment_method: str, idempotency_key: str
) -> PaymentIntentInfo:
    """Attach a card the browser tokenised and confirm the PaymentIntent from the server.

    On Stripe, Stripe.js's confirmCardPayment does this itself. localstripe's Stripe.js only
    plays the 3-D Secure step, so in development the checkout page asks the server for this
    part (orders.cart_views.checkout_local_confirm); the card number never reaches us.
    """
    client = _client()
    _call(
        client.v1.payment_intents.update,
        payment_intent_id,
        params={"payment_method": payment_method},
        options={"idempotency_key": f"{idempotency_key}-attach"},
    )
    pi = _call(
        client.v1.payment_intents.confirm,
        payment_intent_id,
        options={"idempotency_key": idempotency_key},
    )
    return _pi(pi)
