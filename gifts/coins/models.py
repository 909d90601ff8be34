"""Coins bought with money: staff's packs, each purchase paid through Stripe, its refunds and
its card disputes.

The coins themselves are ledger entries (gifts.wallet, currency COIN); these rows say why
they moved. A purchase is credited only once Stripe says it was paid (the verified webhook or
reconciliation asking Stripe), with the purchase as the ledger reference, so it is credited
at most once whatever arrives twice.
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

PACK_MAX_COINS = 1_000_000


class CoinPack(models.Model):
    """A bundle of coins staff sell; its price is set per currency (CoinPackPrice)."""

    name = models.CharField(max_length=60, blank=True, help_text="Optional label, e.g. Starter.")
    coins = models.PositiveIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(PACK_MAX_COINS)]
    )
    is_active = models.BooleanField(default=True)
    sort_order = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sort_order", "coins", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(coins__gte=1, coins__lte=PACK_MAX_COINS),
                name="gifts_coinpack_coins_in_range",
            ),
        ]

    def __str__(self):
        return f"{self.name or 'Pack'}: {self.coins:,} coins"


class CoinPackPrice(models.Model):
    pack = models.ForeignKey(CoinPack, on_delete=models.CASCADE, related_name="prices")
    currency = models.CharField(max_length=3, help_text="ISO code, e.g. USD.")
    price_amount = models.PositiveBigIntegerField(
        validators=[MinValueValidator(1)], help_text="Minor units (cents)."
    )

    class Meta:
        ordering = ["currency"]
        constraints = [
            models.UniqueConstraint(fields=["pack", "currency"], name="gifts_pack_price_once"),
            models.CheckConstraint(
                condition=models.Q(price_amount__gte=1), name="gifts_pack_price_positive"
            ),
        ]

    def __str__(self):
        return f"{self.price_amount} {self.currency}"


class CoinPurchase(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Awaiting payment"
        PAID = "paid", "Paid"
        CANCELED = "canceled", "Cancelled (not paid)"

    buyer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="coin_purchases"
    )
    # None: an exact-amount purchase (priced at the coin's stated value).
    pack = models.ForeignKey(
        CoinPack, on_delete=models.PROTECT, null=True, blank=True, related_name="purchases"
    )
    coins = models.PositiveIntegerField()
    total_amount = models.PositiveBigIntegerField(help_text="Minor units charged.")
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    payment_intent_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    client_secret = models.CharField(max_length=255, blank=True)
    # Coins given back for money (refunds) and taken back by a card dispute.
    coins_refunded = models.PositiveIntegerField(default=0)
    coins_reclaimed = models.PositiveIntegerField(default=0)
    refunded_amount = models.PositiveBigIntegerField(default=0)
    ledger_transaction = models.OneToOneField(
        "orders.LedgerTransaction",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="coin_purchase",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(coins__gte=1, total_amount__gte=1),
                name="gifts_purchase_positive",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    coins__gte=models.F("coins_refunded") + models.F("coins_reclaimed")
                ),
                name="gifts_purchase_takes_back_at_most_its_coins",
            ),
            models.CheckConstraint(
                condition=models.Q(total_amount__gte=models.F("refunded_amount")),
                name="gifts_purchase_refunds_at_most_its_amount",
            ),
        ]
        indexes = [
            models.Index(fields=["buyer", "created_at"], name="gifts_purchase_buyer"),
            models.Index(
                fields=["created_at"],
                condition=models.Q(status="pending"),
                name="gifts_purchase_pending",
            ),
        ]

    def __str__(self):
        return f"Coin purchase {self.pk}: {self.coins:,} coins for user {self.buyer_id}"

    @property
    def idempotency_key(self) -> str:
        return f"coin-purchase-{self.pk}"

    @property
    def ledger_reference(self) -> str:
        return f"gifts:coins:purchase:{self.pk}"

    @property
    def coins_kept(self) -> int:
        """Coins of this purchase not refunded or taken back (spent or still in the wallet)."""
        return self.coins - self.coins_refunded - self.coins_reclaimed


class CoinRefund(models.Model):
    """Unused coins of a purchase given back for money; the Stripe refund is made after the
    coins left the wallet (a partial refund of the purchase's PaymentIntent)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending at Stripe"
        SUCCEEDED = "succeeded", "Refunded"
        FAILED = "failed", "Failed at Stripe"

    purchase = models.ForeignKey(CoinPurchase, on_delete=models.PROTECT, related_name="refunds")
    coins = models.PositiveIntegerField()
    refund_amount = models.PositiveBigIntegerField(help_text="Minor units given back.")
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(max_length=255, blank=True)
    stripe_refund_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    ledger_transaction = models.OneToOneField(
        "orders.LedgerTransaction",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="coin_refund",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(coins__gte=1, refund_amount__gte=1),
                name="gifts_coinrefund_positive",
            ),
        ]

    def __str__(self):
        return f"Refund {self.pk} of {self.coins:,} coins (purchase {self.purchase_id})"

    @property
    def idempotency_key(self) -> str:
        return f"coin-refund-{self.pk}"


class CoinDispute(models.Model):
    """A card dispute (chargeback) on a coin purchase: its unspent coins were taken back and
    the buyer's sending frozen until staff act. Coins already spent stay with the creators."""

    purchase = models.ForeignKey(CoinPurchase, on_delete=models.PROTECT, related_name="disputes")
    stripe_dispute_id = models.CharField(max_length=255, unique=True)
    disputed_amount = models.PositiveBigIntegerField(help_text="Minor units Stripe withdrew.")
    currency = models.CharField(max_length=3)
    reason = models.CharField(max_length=64, blank=True, help_text="Stripe's reason code.")
    status = models.CharField(max_length=32, help_text="Stripe's dispute status.")
    coins_reclaimed = models.PositiveIntegerField(default=0)
    coins_spent = models.PositiveIntegerField(
        default=0, help_text="Coins of the purchase already spent on gifts: they stay spent."
    )
    ledger_transaction = models.OneToOneField(
        "orders.LedgerTransaction",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="coin_dispute",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolution_note = models.TextField(blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return f"Dispute {self.stripe_dispute_id} on purchase {self.purchase_id}"
