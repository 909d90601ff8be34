"""The double-entry ledger's tables (DESIGN.md section 3).

Sign convention: an entry's `amount` is what flows INTO the account (negative: out of it).
Every transaction's entries sum to zero per currency, so the sum over all accounts is zero;
"external" accounts (buyer payments clearing, payouts sent) go negative as money enters or
leaves the platform. On PostgreSQL a deferred constraint trigger refuses, at commit, any
transaction whose entries do not sum to zero (migration 0002), so an unbalanced posting is
impossible, not just untested.

Hot accounts (`deferred_balance`): an account every posting of some kind credits at once
(a popular creator's diamonds, the platform's coin revenue) would serialise all of those
postings on its row lock if each one moved the cached balance. For such accounts a posting
only inserts its entry, marked unfolded; `balance_amount` holds the sum of the folded entries
and `orders.ledger.services.fold_deferred_balance` folds the rest in, in batches. The true
balance is always `balance_amount` + the unfolded entries (`services.current_balance`).

Coin wallets never go below zero: a CheckConstraint here, and the posting debits them with a
conditional UPDATE so a shortfall is a clean domain error.
"""

from django.conf import settings
from django.db import models
from django.db.models.functions import Coalesce


class LedgerAccount(models.Model):
    class Kind(models.TextChoices):
        BUYER_CLEARING = "buyer_clearing", "Buyer payments clearing"
        SELLER_PAYABLE = "seller_payable", "Seller payable (held)"
        SELLER_AVAILABLE = "seller_available", "Seller payable (withdrawable)"
        CREATOR_PAYABLE = "creator_payable", "Creator payable"
        PLATFORM_REVENUE = "platform_revenue", "Platform revenue"
        PAYOUTS_IN_TRANSIT = "payouts_in_transit", "Payouts in transit"
        PAID_OUT = "paid_out", "Paid out"
        COIN_WALLET = "coin_wallet", "User coin wallet"
        CREATOR_DIAMONDS = "creator_diamonds", "Creator diamonds"
        COINS_SOLD = "coins_sold", "Coins sold"
        COIN_ADJUSTMENTS = "coin_adjustments", "Coin adjustments (staff)"
        DIAMONDS_REDEEMED = "diamonds_redeemed", "Diamonds redeemed for money"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    currency = models.CharField(max_length=8, help_text="ISO code, or COIN for coins.")
    shop = models.ForeignKey("shops.Shop", null=True, blank=True, on_delete=models.PROTECT)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT
    )
    # A cache of the sum of entries, updated in the posting's transaction under a row lock.
    balance_amount = models.BigIntegerField(default=0)
    deferred_balance = models.BooleanField(
        default=False,
        help_text="Hot account: postings insert entries without locking this row; the cached "
        "balance is folded in batches (balance_amount + unfolded entries is the true balance).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # A wallet never goes below zero, whatever code path posts to it.
            models.CheckConstraint(
                condition=~models.Q(kind="coin_wallet") | models.Q(balance_amount__gte=0),
                name="orders_coin_wallet_nonnegative",
            ),
            # One account per kind, currency and owner, an empty owner counting as one value.
            # A unique index on the nullable columns would let NULLs repeat, and
            # nulls_distinct=False does not exist on SQLite; ids start at 1, so 0 stands for
            # "none" on both databases.
            models.UniqueConstraint(
                "kind",
                "currency",
                Coalesce("shop", 0),
                Coalesce("user", 0),
                name="orders_ledgeraccount_unique_owner",
            ),
        ]

    def __str__(self):
        owner = f" shop={self.shop_id}" if self.shop_id else ""
        owner += f" user={self.user_id}" if self.user_id else ""
        return f"{self.get_kind_display()} {self.currency}{owner}"


class LedgerTransaction(models.Model):
    kind = models.CharField(max_length=32)
    # Our own idempotency key: posting the same reference twice posts once.
    reference = models.CharField(max_length=200, unique=True)
    memo = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.reference


class LedgerEntry(models.Model):
    transaction = models.ForeignKey(
        LedgerTransaction, on_delete=models.PROTECT, related_name="entries"
    )
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="entries")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=8)
    # False only for entries of a deferred-balance account not yet added to its cached balance.
    folded = models.BooleanField(default=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=~models.Q(amount=0), name="orders_entry_nonzero"),
        ]
        indexes = [
            models.Index(
                fields=["account"],
                condition=models.Q(folded=False),
                name="orders_entry_unfolded",
            ),
        ]

    def __str__(self):
        return f"{self.amount:+d} {self.currency} → {self.account}"
