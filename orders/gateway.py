"""The one door to Stripe (DESIGN.md section 3). Nothing else imports `stripe`.

The official SDK talks to `settings.STRIPE_API_BASE`: localstripe on loopback in development
and tests, Stripe itself in production; the code path is the same. Every call that creates
something carries an idempotency key built from our own row id. What localstripe does
differently from Stripe is smoothed over here, so the code calling this module reads the
same against both.
"""

import re
import time
from dataclasses import dataclass
from typing import Any

import stripe
from django.conf import settings

from shopfeed.errors import ShopFeedError

from .errors import CardDeclined, IllegalTransition, PaymentError
from .models import Checkout


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
    # Why the last attempt to pay failed (a declined card), "" if none did.
    last_error: str = ""

    @property
    def declined(self) -> bool:
        """The last card was refused and the PaymentIntent waits for another one."""
        return self.status == "requires_payment_method" and bool(self.last_error)


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
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses={"api": settings.STRIPE_API_BASE} if settings.STRIPE_API_BASE else None,
        max_network_retries=2,
    )


def _call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except stripe.CardError as exc:
        raise CardDeclined() from exc
    except stripe.StripeError as exc:
        message = getattr(exc, "user_message", None) or str(exc) or "Stripe refused the request."
        raise PaymentError(message) from exc


def _pi(obj) -> PaymentIntentInfo:
    data = obj.to_dict() if hasattr(obj, "to_dict") else obj
    received = int(data.get("amount_received") or 0)
    if not received and data["status"] == "succeeded":
        # localstripe leaves amount_received out; on Stripe a succeeded automatic-capture
        # PaymentIntent has amount_received == amount.
        received = int(data["amount"])
    return PaymentIntentInfo(
        id=data["id"],
        status=data["status"],
        amount=int(data["amount"]),
        amount_received=received,
        currency=str(data["currency"]).upper(),
        client_secret=data.get("client_secret") or "",
        metadata=dict(data.get("metadata") or {}),
        last_error=_error_message(data.get("last_payment_error")),
    )


def _error_message(error) -> str:
    if not error:
        return ""
    return str(error.get("message") or error.get("code") or "declined")


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


def payment_intent_of_charge(charge_id: str) -> str | None:
    """The PaymentIntent a charge belongs to (a dispute names its charge)."""
    data = _call(_client().v1.charges.retrieve, charge_id).to_dict()
    pi = data.get("payment_intent")
    return pi if isinstance(pi, str) else (pi or {}).get("id")


def payment_intent_for_another_card(
    payment_intent_id: str, *, idempotency_key: str
) -> PaymentIntentInfo:
    """The PaymentIntent to confirm the next card with, after the last one was declined.

    On Stripe the same one: a declined PaymentIntent is back in requires_payment_method and is
    confirmed again. localstripe cannot confirm a PaymentIntent again after a decline, so
    there a new one is made under `idempotency_key`, for the same amount, buyer and metadata;
    the caller stores it and cancels the old one.
    """
    data = _call(_client().v1.payment_intents.retrieve, payment_intent_id).to_dict()
    charge = data.get("latest_charge") or {}
    stuck = (
        _is_localstripe()
        and data["status"] == "requires_payment_method"
        and isinstance(charge, dict)
        and charge.get("status") == "failed"
    )
    if not stuck:
        return _pi(data)
    params = {
        "amount": data["amount"],
        "currency": data["currency"],
        "metadata": dict(data.get("metadata") or {}),
        "payment_method_types": ["card"],
    }
    if data.get("customer"):  # the buyer's Customer, set when they asked to save the card
        params["customer"] = data["customer"]
    fresh = _call(
        _client().v1.payment_intents.create,
        params=params,
        options={"idempotency_key": idempotency_key},
    )
    return _pi(fresh)


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


def list_events(
    *, type: str, created_from: int, created_to: int, max_events: int = 1000
) -> list[dict]:
    """Stripe's events of one type created between two Unix times (inclusive), newest first.

    What the webhook should have brought; Stripe keeps them 30 days. At most `max_events`
    (100 a call).
    """
    page = _call(
        _client().v1.events.list,
        params={
            "type": type,
            "created": {"gte": created_from, "lte": created_to},
            "limit": min(100, max_events),
        },
    )
    found: list[dict] = []
    try:
        for event in page.auto_paging_iter():
            found.append(event.to_dict())
            if len(found) >= max_events:
                break
    except stripe.StripeError as exc:
        raise PaymentError(str(exc) or "Stripe refused the request.") from exc
    return found


WEBHOOK_TOLERANCE_SECONDS = 300


def construct_event(payload: bytes, sig_header: str | None) -> dict:
    """Verify a webhook's signature (300 s tolerance both ways, never disabled) and parse it."""
    if not sig_header:
        raise InvalidWebhook("missing Stripe-Signature header")
    try:
        event = stripe.Webhook.construct_event(
            payload, sig_header, settings.STRIPE_WEBHOOK_SECRET, tolerance=WEBHOOK_TOLERANCE_SECONDS
        )
    except (ValueError, stripe.SignatureVerificationError) as exc:
        raise InvalidWebhook(str(exc)) from exc
    # The SDK only refuses old timestamps; one far ahead would let a captured event be
    # replayed for as long as it stays "fresh".
    if _signed_at(sig_header) > time.time() + WEBHOOK_TOLERANCE_SECONDS:
        raise InvalidWebhook("timestamp is in the future, outside the tolerance zone")
    return event.to_dict()


def _signed_at(sig_header: str) -> int:
    for item in sig_header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t":
            try:
                return int(value)
            except ValueError:
                break
    raise InvalidWebhook("unable to read a timestamp from the Stripe-Signature header")


def confirm_payment_intent(
    payment_intent_id: str, *, payment_method: str, idempotency_key: str
) -> PaymentIntentInfo:
    """Attach a card the browser tokenised and confirm the PaymentIntent from the server.

    On Stripe, Stripe.js's confirmCardPayment does this itself. localstripe's Stripe.js only
    plays the 3-D Secure step, so in development the checkout page asks the server for this
    part (confirm_card_on_local_stripe); the card number never reaches us.
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


# --- paying on localstripe from the browser ---------------------------------------------------


def uses_local_stripe() -> bool:
    """localstripe's Stripe.js needs the server's help to attach a card (see checkout.js)."""
    return not settings.STRIPE_JS_URL.startswith("https://js.stripe.com/")


_PAYMENT_METHOD_ID = re.compile(r"(card|pm|src)_[A-Za-z0-9]{1,200}")


def confirm_card_on_local_stripe(*, checkout: Checkout, payment_method: str) -> PaymentIntentInfo:
    """Development only: attach the card localstripe tokenised in the browser, and confirm.

    The order still becomes paid only from the webhook. Raises CardDeclined for a refused card.
    """
    if checkout.status != Checkout.Status.OPEN or not checkout.payment_intent_id:
        raise IllegalTransition("This checkout cannot be paid any more.")
    return confirm_tokenised_card(
        checkout.payment_intent_id,
        payment_method=payment_method,
        idempotency_key=f"{checkout.idempotency_key}-confirm-{payment_method}",
    )


def confirm_tokenised_card(
    payment_intent_id: str, *, payment_method: str, idempotency_key: str
) -> PaymentIntentInfo:
    """Development only: confirm any PaymentIntent of ours (a checkout's, a coin purchase's)
    with the card localstripe's Stripe.js tokenised in the browser."""
    if not _PAYMENT_METHOD_ID.fullmatch(payment_method or ""):
        raise ShopFeedError("The card could not be read; enter it again.", code="bad_card")
    return confirm_payment_intent(
        payment_intent_id, payment_method=payment_method, idempotency_key=idempotency_key
    )


# --- saved cards (a Stripe Customer per buyer) ------------------------------------------------


@dataclass(frozen=True)
class CardInfo:
    id: str
    brand: str
    last4: str
    exp_month: int | None
    exp_year: int | None
    customer: str | None


@dataclass(frozen=True)
class PaymentIntentPayment:
    """Who paid a PaymentIntent and with what (what PaymentIntentInfo leaves out)."""

    id: str
    status: str
    customer: str | None
    payment_method: str | None
    metadata: dict


def _is_localstripe() -> bool:
    # Production talks to Stripe's own base (STRIPE_API_BASE empty or api.stripe.com).
    base = settings.STRIPE_API_BASE or ""
    return bool(base) and not base.startswith("https://api.stripe.com")


def _card(obj) -> CardInfo:
    data = obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)
    # A PaymentMethod nests the card; a legacy card_ object (what localstripe's Stripe.js
    # tokenises) carries the same fields at its top level.
    card = data.get("card") or data
    exp_month, exp_year = card.get("exp_month"), card.get("exp_year")
    return CardInfo(
        id=data["id"],
        brand=str(card.get("brand") or "").lower(),
        last4=str(card.get("last4") or ""),
        exp_month=int(exp_month) if exp_month else None,
        exp_year=int(exp_year) if exp_year else None,
        customer=data.get("customer") or None,
    )


def create_customer(*, user_id: int, email: str, idempotency_key: str) -> str:
    """A Stripe Customer for one buyer; returns its id."""
    params: dict[str, Any] = {"metadata": {"user_id": str(user_id)}}
    if email:
        params["email"] = email
    customer = _call(
        _client().v1.customers.create, params=params, options={"idempotency_key": idempotency_key}
    )
    return customer.id


def retrieve_payment_intent_payment(payment_intent_id: str) -> PaymentIntentPayment:
    data = _call(_client().v1.payment_intents.retrieve, payment_intent_id).to_dict()
    customer, pm = data.get("customer"), data.get("payment_method")
    return PaymentIntentPayment(
        id=data["id"],
        status=data["status"],
        customer=customer if isinstance(customer, str) else (customer or {}).get("id"),
        payment_method=pm if isinstance(pm, str) else (pm or {}).get("id"),
        metadata=dict(data.get("metadata") or {}),
    )


def prepare_to_save_card(payment_intent_id: str, *, customer: str, save: bool) -> None:
    """Tie the PaymentIntent to the buyer's Customer so the card it is paid with is kept.

    On Stripe, setup_future_usage="off_session" makes Stripe attach the card to the Customer
    when the payment succeeds. localstripe has no setup_future_usage (it answers 400), so
    there only the Customer and our metadata flag are set, and save_payment_method attaches
    the card after the payment instead (the closest it can do).
    """
    params: dict = {"customer": customer, "metadata": {"save_card": "1" if save else "0"}}
    if not _is_localstripe():
        params["setup_future_usage"] = "off_session" if save else ""
    # No idempotency key: it sets absolute values (safe to repeat), and a replayed key would
    # swallow a later change of mind (save, then not).
    _call(_client().v1.payment_intents.update, payment_intent_id, params=params)


def save_payment_method(payment_method_id: str, *, customer: str) -> CardInfo:
    """The card a payment was made with, attached to the buyer's Customer if it is not yet.

    On Stripe, setup_future_usage already attached it. localstripe: a pm_ card is attached
    here; a card_ one (from its Stripe.js token) cannot be attached there (its attach takes
    pm_ ids only), and it charges a card_ with any customer, so it is kept as it is.
    """
    client = _client()
    card = _card(_call(client.v1.payment_methods.retrieve, payment_method_id))
    if card.customer is None and payment_method_id.startswith("pm_"):
        card = _card(
            _call(
                client.v1.payment_methods.attach,
                payment_method_id,
                params={"customer": customer},
                options={"idempotency_key": f"attach-{payment_method_id}-{customer}"},
            )
        )
    elif card.customer not in (None, customer):
        raise PaymentError("That card belongs to someone else.")
    return card


def detach_payment_method(payment_method_id: str) -> None:
    """Forget a saved card at Stripe. localstripe's card_ ids were never attached: nothing to do."""
    if not payment_method_id.startswith("pm_"):
        return
    _call(_client().v1.payment_methods.detach, payment_method_id)


def confirm_with_saved_card(
    payment_intent_id: str, *, customer: str, payment_method: str, idempotency_key: str
) -> PaymentIntentInfo:
    """Pay a PaymentIntent with a card saved on the buyer's Customer, from the server.

    The buyer is present (they tapped "Buy now"), so this is an on-session confirm; a bank
    that wants 3-D Secure answers requires_action. localstripe does not implement confirm
    with a payment_method argument ("Not implemented") nor off_session on confirm, so the
    card is set with an update first and then confirmed with no arguments: Stripe accepts
    the same two calls.
    """
    client = _client()
    _call(
        client.v1.payment_intents.update,
        payment_intent_id,
        params={"customer": customer, "payment_method": payment_method},
        options={"idempotency_key": f"{idempotency_key}-attach"},
    )
    pi = _call(
        client.v1.payment_intents.confirm,
        payment_intent_id,
        options={"idempotency_key": idempotency_key},
    )
    return _pi(pi)
