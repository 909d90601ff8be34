"""Posting to the double-entry ledger. The only code that writes ledger rows."""

from collections import defaultdict
from collections.abc import Sequence

from django.db import IntegrityError, transaction
from django.db.models import F, Sum

from shopfeed.errors import ShopFeedError

from .models import LedgerAccount, LedgerEntry, LedgerTransaction

Kind = LedgerAccount.Kind


class UnbalancedPosting(ShopFeedError):
    """A ledger transaction's entries must sum to zero in each currency."""

    code = "unbalanced_posting"


def account(*, kind: str, currency: str, shop=None, user=None) -> LedgerAccount:
    acct, _ = LedgerAccount.objects.get_or_create(
        kind=kind, currency=currency, shop=shop, user=user
    )
    return acct


@transaction.atomic
def post(
    *,
    reference: str,
    kind: str,
    entries: Sequence[tuple[LedgerAccount, int]],
    memo: str = "",
) -> LedgerTransaction:
    """Post one balanced transaction; a second post with the same reference is a no-op."""
    existing = LedgerTransaction.objects.filter(reference=reference).first()
    if existing is not None:
        return existing
    totals: dict[str, int] = defaultdict(int)
    for acct, amount in entries:
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise UnbalancedPosting("Ledger amounts are integers in minor units.")
        totals[acct.currency] += amount
    if not entries or any(totals.values()):
        raise UnbalancedPosting(f"Entries do not balance: {dict(totals)}.")
    entries = [(a, amt) for a, amt in entries if amt != 0]
    try:
        with transaction.atomic():
            txn = LedgerTransaction.objects.create(reference=reference, kind=kind, memo=memo)
    except IntegrityError:
        return LedgerTransaction.objects.get(reference=reference)
    # Lock the touched accounts in id order (no deadlocks), then move the cached balances.
    ids = sorted({a.pk for a, _ in entries})
    list(LedgerAccount.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
    LedgerEntry.objects.bulk_create(
        [
            LedgerEntry(transaction=txn, account=a, amount=amt, currency=a.currency)
            for a, amt in entries
        ]
    )
    per_account: dict[int, int] = defaultdict(int)
    for a, amt in entries:
        per_account[a.pk] += amt
    for pk, delta in per_account.items():
        LedgerAccount.objects.filter(pk=pk).update(balance_amount=F("balance_amount") + delta)
    return txn


def balance(acct: LedgerAccount) -> int:
    """The balance derived from entries (the cached one must always equal it)."""
    return acct.entries.aggregate(total=Sum("amount"))["total"] or 0
