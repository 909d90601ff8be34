"""Seller payouts: release after the hold, gather withdrawable money, send it exactly once.

Money moves only through `orders.ledger.accounting`:
  delivered + hold passed  -> post_release         (seller payable -> seller available)
  create_payouts           -> post_payout_reserved (seller available -> payouts in transit)
  send_payout succeeded    -> post_payout_sent     (payouts in transit -> paid out)
  send_payout gave up      -> post_payout_returned (payouts in transit -> seller available)

Exactly once: `send_payout` holds the payout's row lock across the Stripe call and sends
the transfer with the payout's own idempotency key ("payout-<id>"). A second sender waits
on the lock and then finds the payout paid. A sender killed after Stripe made the transfer
but before our commit leaves the row unpaid; the retry sends the same key and Stripe replays
the first transfer (for about 24 hours) instead of making a second one.
"""

import logging
import re
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import mail_admins
from django.db import transaction
from django.utils import timezone

from shopfeed.errors import NotAllowed, ShopFeedError
from shops.models import Shop

from .. import gateway
from ..errors import PaymentError
from ..ledger import accounting
from ..ledger import services as ledger
from ..ledger.models import LedgerAccount
from ..models import Order, Payout, PayoutAccount

log = logging.getLogger(__name__)
Kind = LedgerAccount.Kind

RELEASABLE_STATUSES = (Order.Status.DELIVERED, Order.Status.COMPLETED)
UNSENT_STATUSES = (Payout.Status.PENDING, Payout.Status.SENDING)
STRIPE_ACCOUNT_RE = re.compile(r"^acct_[A-Za-z0-9]{6,64}$")
# Stripe keeps an idempotency key about 24 h; automatic re-sends stay well inside that.
IDEMPOTENCY_WINDOW = timedelta(hours=23)


def max_attempts() -> int:
    return getattr(settings, "PAYOUT_MAX_ATTEMPTS", 5)


# --- release after the hold ------------------------------------------------------------------


def release_due_payables(*, now: datetime) -> list[int]:
    """Make the payable of every order whose hold has passed withdrawable; returns order ids."""
    due = Order.objects.filter(
        status__in=RELEASABLE_STATUSES, release_at__lte=now, released_at__isnull=True
    ).values_list("pk", flat=True)
    released = []
    for order_id in list(due):
        if _release_one(order_id=order_id, now=now):
            released.append(order_id)
    return released


@transaction.atomic
def _release_one(*, order_id: int, now: datetime) -> bool:
    # The lock orders this against a refund of the same order (post_refund reads released_at).
    order = Order.objects.select_for_update().select_related("shop").get(pk=order_id)
    if order.released_at is not None or order.status not in RELEASABLE_STATUSES:
        return False
    if order.release_at is None or order.release_at > now:
        return False
    accounting.post_release(order)
    order.released_at = now
    order.save(update_fields=["released_at", "updated_at"])
    return True


# --- gather payouts --------------------------------------------------------------------------


def create_payouts(*, now: datetime, shop: Shop | None = None) -> list[Payout]:
    """One payout per shop and currency whose withdrawable balance reaches the minimum.

    `now` is the run's time (what is withdrawable was decided by release_due_payables).
    """
    candidates = LedgerAccount.objects.filter(
        kind=Kind.SELLER_AVAILABLE,
        shop__isnull=False,
        balance_amount__gte=max(settings.PAYOUT_MINIMUM_AMOUNT, 1),
        shop__payout_account__payouts_held=False,
    ).exclude(shop__payout_account__stripe_account_id="")
    if shop is not None:
        candidates = candidates.filter(shop=shop)
    payouts = []
    for ledger_account_id in list(candidates.order_by("pk").values_list("pk", flat=True)):
        payout = _create_payout(ledger_account_id=ledger_account_id)
        if payout is not None:
            payouts.append(payout)
    return payouts


@transaction.atomic
def _create_payout(*, ledger_account_id: int) -> Payout | None:
    # Lock the payout account (staff hold it under this lock) and then the balance; re-read
    # both under the locks so two runs can never reserve the same money twice.
    available = LedgerAccount.objects.select_related("shop").get(pk=ledger_account_id)
    shop_id = available.shop_id
    assert shop_id is not None  # create_payouts picks seller accounts, which have a shop
    in_transit = ledger.account(
        kind=Kind.PAYOUTS_IN_TRANSIT, currency=available.currency, shop=available.shop
    )
    dest = PayoutAccount.objects.select_for_update().filter(shop_id=shop_id).first()
    # Both ledger rows the reservation moves, in id order like ledger.post (no deadlock).
    locked = LedgerAccount.objects.select_for_update().filter(pk__in=[available.pk, in_transit.pk])
    available = {a.pk: a for a in locked.order_by("pk")}[ledger_account_id]
    if dest is None or dest.payouts_held or not dest.stripe_account_id:
        return None
    if available.balance_amount < max(settings.PAYOUT_MINIMUM_AMOUNT, 1):
        return None
    payout = Payout.objects.create(
        shop_id=shop_id,
        amount=available.balance_amount,
        currency=available.currency,
        destination=dest.stripe_account_id,
    )
    accounting.post_payout_reserved(payout)
    log.info("payout %s created: %s %s", payout.pk, payout.amount, payout.currency)
    return payout


def payouts_to_send(*, now: datetime) -> list[int]:
    """Unsent payouts of shops not on hold, young enough that Stripe still holds their key
    (a re-send is replayed, never repeated); older ones wait for staff (`stuck_payouts`)."""
    return list(
        Payout.objects.filter(status__in=UNSENT_STATUSES, created_at__gte=now - IDEMPOTENCY_WINDOW)
        .exclude(shop__payout_account__payouts_held=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


# --- send ------------------------------------------------------------------------------------


def _stripe_answered_no(exc: PaymentError) -> bool:
    """True when Stripe itself refused (4xx): then no transfer was made for this key.

    A connection error, a timeout or a 5xx leaves the outcome unknown: the transfer may exist.
    """
    status = getattr(exc.__cause__, "http_status", None)
    return status is not None and 400 <= status < 500 and status not in (409, 429)


def send_payout(*, payout_id: int) -> Payout:
    """Send one payout's transfer; safe to run any number of times, concurrently or after a crash.

    Raises PaymentError (after recording the attempt) when the caller should try again later.
    """
    retry_error: PaymentError | None = None
    with transaction.atomic():
        payout = Payout.objects.select_for_update().get(pk=payout_id)
        if payout.status not in UNSENT_STATUSES:
            return payout
        if PayoutAccount.objects.filter(shop_id=payout.shop_id, payouts_held=True).exists():
            return payout
        try:
            transfer = gateway.create_transfer(
                amount=payout.amount,
                currency=payout.currency,
                destination=payout.destination,
                idempotency_key=payout.idempotency_key,
                metadata={"payout_id": str(payout.pk), "shop_id": str(payout.shop_id)},
            )
        except PaymentError as exc:
            retry_error = _record_failure(payout, exc)
        else:
            payout.stripe_transfer_id = transfer.id
            payout.status = Payout.Status.PAID
            payout.sent_at = timezone.now()
            payout.last_error = ""
            payout.save(update_fields=["stripe_transfer_id", "status", "sent_at", "last_error"])
            accounting.post_payout_sent(payout)
            log.info("payout %s paid by transfer %s", payout.pk, transfer.id)
    if retry_error is not None:
        raise retry_error
    return payout


def _record_failure(payout: Payout, exc: PaymentError) -> PaymentError | None:
    payout.attempts += 1
    payout.last_error = f"Attempt {payout.attempts}: {exc.message}"[:2000]
    refused = _stripe_answered_no(exc)
    if refused and payout.attempts >= max_attempts():
        # Stripe said no every time: nothing left, so the money is withdrawable again and
        # goes out in a later payout (a new id, so a new idempotency key).
        payout.status = Payout.Status.FAILED
        payout.save(update_fields=["attempts", "last_error", "status"])
        accounting.post_payout_returned(payout)
        _tell_staff(payout, "failed; its money is withdrawable again")
        log.warning("payout %s failed for good: %s", payout.pk, exc.message)
        return None
    # Unknown outcome (or attempts left): stay unsent. Re-sending uses the same key, so a
    # transfer Stripe did make is replayed, never repeated.
    payout.status = Payout.Status.SENDING
    if not refused:
        payout.last_error += " (no answer from Stripe: the transfer may exist; re-send to find out)"
    payout.save(update_fields=["attempts", "last_error", "status"])
    if payout.attempts == max_attempts():
        _tell_staff(payout, "still not sent")
    log.warning("payout %s attempt %s failed: %s", payout.pk, payout.attempts, exc.message)
    return exc


def _tell_staff(payout: Payout, what: str) -> None:
    subject = f"Payout {payout.pk} {what}"
    body = (
        f"Payout {payout.pk} of {payout.amount} {payout.currency} (minor units) to "
        f"{payout.destination} for shop {payout.shop_id}: {payout.last_error}"
    )
    transaction.on_commit(lambda: mail_admins(subject, body, fail_silently=True))


# --- staff and seller controls ---------------------------------------------------------------


def _require_staff(by, what: str) -> None:
    if not getattr(by, "is_staff", False):
        raise NotAllowed(f"Only staff can {what}.")


def _clean_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ShopFeedError("Say why.", code="reason_required", field="reason")
    return reason


@transaction.atomic
def hold_payouts(*, shop: Shop, by, reason: str) -> PayoutAccount:
    _require_staff(by, "hold payouts")
    reason = _clean_reason(reason)
    PayoutAccount.objects.get_or_create(shop=shop)
    acct = PayoutAccount.objects.select_for_update().get(shop=shop)
    acct.payouts_held = True
    acct.hold_reason = reason
    acct.save(update_fields=["payouts_held", "hold_reason", "updated_at"])
    log.info("payouts of shop %s held by %s: %s", shop.pk, by.pk, reason)
    return acct


@transaction.atomic
def release_payouts(*, shop: Shop, by, reason: str) -> PayoutAccount:
    """Lift a hold; the caller re-queues the payouts that waited (payouts.tasks.enqueue_send)."""
    _require_staff(by, "release payouts")
    reason = _clean_reason(reason)
    PayoutAccount.objects.get_or_create(shop=shop)
    acct = PayoutAccount.objects.select_for_update().get(shop=shop)
    acct.payouts_held = False
    acct.hold_reason = ""
    acct.save(update_fields=["payouts_held", "hold_reason", "updated_at"])
    log.info("payouts of shop %s released by %s: %s", shop.pk, by.pk, reason)
    return acct


@transaction.atomic
def set_payout_destination(*, shop: Shop, by, stripe_account_id: str) -> PayoutAccount:
    """The shop's owner names the Stripe connected account (acct_...) payouts go to."""
    if shop.owner_id != getattr(by, "pk", None):
        raise NotAllowed("Only the shop's owner can change where its payouts go.")
    value = (stripe_account_id or "").strip()
    if not STRIPE_ACCOUNT_RE.match(value):
        raise ShopFeedError(
            "Enter your Stripe connected account id: it starts with acct_ followed by "
            "letters and digits, e.g. acct_1Nv0FGQ9RKHgCVdK.",
            code="bad_stripe_account",
            field="stripe_account_id",
        )
    PayoutAccount.objects.get_or_create(shop=shop)
    acct = PayoutAccount.objects.select_for_update().get(shop=shop)
    acct.stripe_account_id = value
    acct.save(update_fields=["stripe_account_id", "updated_at"])
    return acct
