"""Posting to the double-entry ledger. The only code that writes ledger rows."""

from collections import defaultdict
from collections.abc import Sequence

from django.db import IntegrityError, transaction
from django.db.models import F, Sum

from shopfeed.errors import ShopFeedError

from .models import LedgerAccount, LedgerEntry, LedgerTransaction

Kind = LedgerAccount.Kind


# Accounts whose balance may never go below zero; a posting debits them conditionally.
NON_NEGATIVE_KINDS = frozenset({Kind.COIN_WALLET})
# How many unfolded entries one fold moves into a deferred account's cached balance.
FOLD_BATCH = 5000

# Called inside the posting's transaction with the user ids of the non-negative (wallet)
# accounts a posting moved: an upper app that mirrors wallets elsewhere (gifts' Redis mirror)
# learns of every change, whichever code posted it. Registered at startup.
_wallet_hooks: list = []


def register_wallet_hook(hook) -> None:
    if hook not in _wallet_hooks:
        _wallet_hooks.append(hook)


def wallets_moved(user_ids) -> None:
    for hook in _wallet_hooks:
        hook(user_ids)


class UnbalancedPosting(ShopFeedError):
    """A ledger transaction's entries must sum to zero in each currency."""

    code = "unbalanced_posting"


class InsufficientBalance(ShopFeedError):
    """The account does not hold enough for this posting."""

    code = "insufficient_balance"

    def __init__(self, message: str = "", *, account: LedgerAccount, needed: int):
        super().__init__(message)
        self.account = account
        self.needed = needed


def account(
    *, kind: str, currency: str, shop=None, user=None, deferred_balance: bool = False
) -> LedgerAccount:
    """The account for this kind, currency and owner, created on first use.

    `deferred_balance` is decided when the account is created (a hot account; see models).
    """
    acct, _ = LedgerAccount.objects.get_or_create(
        kind=kind,
        currency=currency,
        shop=shop,
        user=user,
        defaults={"deferred_balance": deferred_balance},
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
    # Deferred (hot) accounts are neither locked nor moved: their entries wait to be folded.
    ids = sorted({a.pk for a, _ in entries if not a.deferred_balance})
    if ids:
        list(LedgerAccount.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
    LedgerEntry.objects.bulk_create(
        [
            LedgerEntry(
                transaction=txn,
                account=a,
                amount=amt,
                currency=a.currency,
                folded=not a.deferred_balance,
            )
            for a, amt in entries
        ]
    )
    per_account: dict[int, int] = defaultdict(int)
    by_pk: dict[int, LedgerAccount] = {}
    for a, amt in entries:
        if not a.deferred_balance:
            per_account[a.pk] += amt
            by_pk[a.pk] = a
    for pk, delta in sorted(per_account.items()):
        rows = LedgerAccount.objects.filter(pk=pk)
        if delta < 0 and by_pk[pk].kind in NON_NEGATIVE_KINDS:
            # Conditional: a shortfall updates nothing and becomes a domain error, the
            # CheckConstraint being the backstop for any other writer.
            rows = rows.filter(balance_amount__gte=-delta)
        if not rows.update(balance_amount=F("balance_amount") + delta):
            raise InsufficientBalance(
                f"{by_pk[pk]} holds less than {-delta}.", account=by_pk[pk], needed=-delta
            )
    moved = [a.user_id for a in by_pk.values() if a.kind in NON_NEGATIVE_KINDS and a.user_id]
    if moved:
        wallets_moved(moved)
    return txn


def current_balance(acct: LedgerAccount) -> int:
    """The account's balance now: the cached one, plus unfolded entries for a deferred one."""
    if not acct.deferred_balance:
        return LedgerAccount.objects.values_list("balance_amount", flat=True).get(pk=acct.pk)
    cached = LedgerAccount.objects.values_list("balance_amount", flat=True).get(pk=acct.pk)
    pending = LedgerEntry.objects.filter(account_id=acct.pk, folded=False).aggregate(
        total=Sum("amount")
    )["total"]
    return cached + (pending or 0)


@transaction.atomic
def fold_deferred_balance(acct: LedgerAccount, *, batch: int = FOLD_BATCH) -> int:
    """Add up to `batch` unfolded entries into a deferred account's cached balance.

    Postings never lock a deferred account, so only folds contend for its row. Entries
    committed while a fold runs are not in its snapshot and wait for the next one.
    Returns how many entries were folded.
    """
    # FOR NO KEY UPDATE: it orders folds of this account but does not conflict with the
    # key-share lock a posting's entry insert takes on the account it references.
    LedgerAccount.objects.select_for_update(no_key=True).get(pk=acct.pk)
    pending = list(
        LedgerEntry.objects.filter(account_id=acct.pk, folded=False)
        .order_by("pk")
        .values_list("pk", "amount")[:batch]
    )
    if not pending:
        return 0
    LedgerEntry.objects.filter(pk__in=[pk for pk, _ in pending]).update(folded=True)
    LedgerAccount.objects.filter(pk=acct.pk).update(
        balance_amount=F("balance_amount") + sum(amount for _, amount in pending)
    )
    return len(pending)


def fold_deferred_balances(*, batch: int = FOLD_BATCH) -> int:
    """Fold every deferred account that has entries waiting (a beat job calls this)."""
    account_ids = (
        LedgerEntry.objects.filter(folded=False).values_list("account_id", flat=True).distinct()
    )
    folded = 0
    for acct in LedgerAccount.objects.filter(pk__in=list(account_ids)).order_by("pk"):
        folded += fold_deferred_balance(acct, batch=batch)
    return folded


def balance(acct: LedgerAccount) -> int:
    """The balance derived from entries (the cached one must always equal it)."""
    return acct.entries.aggregate(total=Sum("amount"))["total"] or 0
