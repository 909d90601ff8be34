"""Gifts: the catalogue, each send, each user's gifting settings, and staff's audit trail.

Coins and diamonds themselves live in the ledger (`orders.ledger`, currency "COIN"): a user's
wallet is a COIN_WALLET account, a creator's diamonds a CREATOR_DIAMONDS account. These tables
record what happened and why; the ledger holds the balances.

A send names its live session by a plain `session_id` (and `context`), not a foreign key:
gifts sits below live (DESIGN.md section 1) and may not import it. The live app, which knows
its sessions, checks the session before it calls `send_gift` and reads sends back by id.
"""

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from orders.ledger.models import LedgerAccount
from shopfeed.images import UploadedImageField

from .assets import validate_animation

GIFT_MIN_COINS = 1
GIFT_MAX_COINS = 50_000
SEND_MAX_COUNT = 99


def _animation_path(instance, filename: str) -> str:
    # The client's name is never used: Lottie JSON stored under a name we choose.
    return f"gifts/animations/{uuid.uuid4().hex}.json"


class Gift(models.Model):
    name = models.CharField(max_length=60)
    slug = models.SlugField(max_length=60, unique=True)
    coins = models.PositiveIntegerField(
        validators=[MinValueValidator(GIFT_MIN_COINS), MaxValueValidator(GIFT_MAX_COINS)],
        help_text=f"Price in coins ({GIFT_MIN_COINS}-{GIFT_MAX_COINS:,}).",
    )
    image = UploadedImageField(upload_to="gifts/%Y/%m/")
    animation = models.FileField(
        upload_to=_animation_path,
        blank=True,
        validators=[validate_animation],
        help_text="Optional Lottie animation (JSON) played over the video.",
    )
    is_comboable = models.BooleanField(
        "combo-able",
        default=False,
        help_text="Repeated sends within a few seconds merge into one streak in the room.",
    )
    is_active = models.BooleanField(default=True)
    sort_order = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sort_order", "coins", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(coins__gte=GIFT_MIN_COINS, coins__lte=GIFT_MAX_COINS),
                name="gifts_gift_coins_in_range",
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.coins} coins)"


class GiftSend(models.Model):
    """One send of `count` x `gift` from `sender` to `host`; its ledger posting moved the coins.

    `creator_diamonds + platform_coins == coins_total == gift.coins * count` (at send time).
    """

    class Context(models.TextChoices):
        LIVE = "live", "Live session"
        DIRECT = "direct", "Direct (no session)"

    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="gifts_sent"
    )
    host = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="gifts_received"
    )
    gift = models.ForeignKey(Gift, on_delete=models.PROTECT, related_name="sends")
    # live.LiveSession's id when sent in a room (no FK: gifts may not import live).
    session_id = models.BigIntegerField(null=True, blank=True)
    context = models.CharField(max_length=16, choices=Context.choices, default=Context.DIRECT)
    count = models.PositiveSmallIntegerField()
    coins_total = models.PositiveIntegerField()
    creator_diamonds = models.PositiveIntegerField()
    platform_coins = models.PositiveIntegerField()
    client_token = models.CharField(max_length=64)
    ledger_transaction = models.OneToOneField(
        "orders.LedgerTransaction",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="gift_send",
    )
    # Set when the creator's diamonds from this send became money (earnings.convert).
    conversion = models.ForeignKey(
        "DiamondConversion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="sends",
    )
    created_at = models.DateTimeField(default=timezone.now)

    # Not stored: True on the send `send_gift` returns for a resend of a used client token.
    replayed = False

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["sender", "client_token"], name="gifts_send_client_token_once"
            ),
            models.CheckConstraint(
                condition=models.Q(count__gte=1, count__lte=SEND_MAX_COUNT),
                name="gifts_send_count_in_range",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    coins_total=models.F("creator_diamonds") + models.F("platform_coins")
                ),
                name="gifts_send_shares_add_up",
            ),
            models.CheckConstraint(
                condition=~models.Q(sender=models.F("host")), name="gifts_send_not_to_self"
            ),
        ]
        indexes = [
            models.Index(fields=["sender", "created_at"], name="gifts_send_sender_day"),
            models.Index(fields=["host", "session_id"], name="gifts_send_host_session"),
            models.Index(
                fields=["host", "created_at"],
                condition=models.Q(conversion__isnull=True),
                name="gifts_send_unconverted",
            ),
        ]

    def __str__(self):
        return f"{self.count} x {self.gift_id} from {self.sender_id} to {self.host_id}"


class GiftingProfile(models.Model):
    """A user's own gifting settings, and staff's freeze (a card dispute, abuse)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="gifting_profile"
    )
    # None: the platform default (GIFTS_DAILY_COIN_CAP). A user may only set it lower.
    daily_coin_cap = models.PositiveIntegerField(null=True, blank=True)
    show_supporter_level = models.BooleanField(
        default=False, help_text="Show my supporter level beside my name in live chats."
    )
    frozen_at = models.DateTimeField(null=True, blank=True)
    frozen_reason = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"Gifting settings of user {self.user_id}"

    @property
    def is_frozen(self) -> bool:
        return self.frozen_at is not None


class DiamondConversion(models.Model):
    """A creator's diamonds from a set of sends turned into creator payable money."""

    creator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="diamond_conversions"
    )
    diamonds = models.PositiveBigIntegerField()
    amount = models.PositiveBigIntegerField(help_text="Minor units.")
    currency = models.CharField(max_length=3)
    diamond_value = models.PositiveIntegerField(help_text="Minor units per diamond used.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return f"{self.diamonds} diamonds -> {self.amount} {self.currency} for {self.creator_id}"


class GiftingEvent(models.Model):
    """Staff's audit trail: freezes, unfreezes and manual coin adjustments, with a reason."""

    class Kind(models.TextChoices):
        FROZEN = "frozen", "Sending frozen"
        UNFROZEN = "unfrozen", "Sending unfrozen"
        ADJUSTED = "adjusted", "Coins adjusted"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="gifting_events"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    reason = models.TextField()
    coins = models.BigIntegerField(default=0, help_text="For adjustments: + credited, - taken.")
    ledger_transaction = models.OneToOneField(
        "orders.LedgerTransaction",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="gifting_event",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return f"{self.get_kind_display()} for user {self.user_id}"


class CoinWalletManager(models.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(kind=LedgerAccount.Kind.COIN_WALLET, currency="COIN")


class CoinWallet(LedgerAccount):
    """Users' coin wallets: the ledger accounts of kind COIN_WALLET, for staff's admin."""

    objects = CoinWalletManager()

    class Meta:
        proxy = True
        verbose_name = "coin wallet"
