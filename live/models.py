import secrets

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from shops.images import UploadedImageField


def new_stream_key() -> str:
    return secrets.token_urlsafe(24)


class LiveSession(models.Model):
    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        LIVE = "live", "Live"
        ENDED = "ended", "Ended"

    host = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="live_sessions"
    )
    shop = models.ForeignKey(
        "shops.Shop", null=True, blank=True, on_delete=models.PROTECT, related_name="live_sessions"
    )
    title = models.CharField(max_length=120)
    cover = UploadedImageField(upload_to="live/covers/%Y/%m/", blank=True)
    scheduled_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SCHEDULED)
    # Secret: whoever holds it can publish video as this session. Rotatable.
    stream_key = models.CharField(max_length=64, unique=True, default=new_stream_key)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    pinned_product = models.ForeignKey(
        "shops.Product", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    peak_viewers = models.PositiveIntegerField(default=0)
    total_viewers = models.PositiveIntegerField(default=0)
    # The host's LIVE goal: a coins target the room's gifts fill (progress counts the gifts
    # sent since it was set; the room keeps the running total in Redis, GiftSend is the record).
    gift_goal_coins = models.PositiveIntegerField(null=True, blank=True)
    gift_goal_title = models.CharField(max_length=60, blank=True)
    gift_goal_set_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-scheduled_at"]
        indexes = [models.Index(fields=["status", "scheduled_at"])]

    def __str__(self):
        return self.title

    @property
    def is_live(self) -> bool:
        return self.status == self.Status.LIVE


class LineupItem(models.Model):
    session = models.ForeignKey(LiveSession, on_delete=models.CASCADE, related_name="lineup")
    product = models.ForeignKey("shops.Product", on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["session", "product"], name="live_lineup_once"),
        ]

    def __str__(self):
        return f"{self.product_id} in {self.session_id}"


class FlashDeal(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        ENDED = "ended", "Ended"
        CANCELLED = "cancelled", "Cancelled"

    session = models.ForeignKey(LiveSession, on_delete=models.CASCADE, related_name="deals")
    product = models.ForeignKey("shops.Product", on_delete=models.PROTECT, related_name="+")
    deal_price_amount = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    quantity = models.PositiveIntegerField()
    # Claimed with one conditional UPDATE (sold < quantity), like stock.
    sold = models.PositiveIntegerField(default=0)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(sold__lte=models.F("quantity")), name="live_deal_never_oversold"
            ),
            models.CheckConstraint(
                condition=models.Q(deal_price_amount__gt=0), name="live_deal_price_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")),
                name="live_deal_ends_after_start",
            ),
        ]

    def __str__(self):
        return f"Deal {self.pk} on {self.product_id}"

    @property
    def remaining(self) -> int:
        return self.quantity - self.sold


class ChatMessage(models.Model):
    session = models.ForeignKey(LiveSession, on_delete=models.CASCADE, related_name="messages")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    text = models.CharField(max_length=300)
    # The room event that carried it (its id in the room, too; ids start again if Redis loses
    # its data, so the newest message with an id is the one meant).
    event_id = models.PositiveBigIntegerField(null=True, blank=True)
    # Messages are published first and stored in batches: a batch stored twice must not store
    # a message twice.
    uid = models.UUIDField(null=True, blank=True, unique=True, editable=False)
    # When it was sent (stored a little later, in a batch).
    created_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["session", "created_at"]),
            models.Index(fields=["session", "event_id"]),
        ]

    def __str__(self):
        return self.text[:40]


class RoomRestriction(models.Model):
    """A host's mute or ban of a viewer, across that host's sessions."""

    class Kind(models.TextChoices):
        MUTE = "mute", "Muted"
        BAN = "ban", "Banned"

    host = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    reason = models.CharField(max_length=255, blank=True)
    until = models.DateTimeField(null=True, blank=True, help_text="Empty: until lifted.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["host", "user", "kind"], name="live_restriction_once"),
        ]

    def __str__(self):
        return f"{self.kind} {self.user_id} by {self.host_id}"


class BlockedWord(models.Model):
    shop = models.ForeignKey("shops.Shop", on_delete=models.CASCADE, related_name="blocked_words")
    word = models.CharField(max_length=60)

    class Meta:
        constraints = [
            models.UniqueConstraint("shop", Lower("word"), name="live_blocked_word_once"),
        ]

    def __str__(self):
        return self.word


class SessionViewer(models.Model):
    """One row per distinct viewer of a session (signed-in user or anonymous visitor).

    No longer written: distinct viewers are counted in Redis (live.room.presence) and kept in
    `LiveSession.total_viewers`; the rows of earlier sessions stay for their summaries."""

    session = models.ForeignKey(LiveSession, on_delete=models.CASCADE, related_name="viewers")
    viewer_key = models.CharField(max_length=64)
    first_seen_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["session", "viewer_key"], name="live_viewer_once"),
        ]

    def __str__(self):
        return self.viewer_key


class LiveDealClaim(models.Model):
    """Deal units one checkout took, so they go back if that checkout is never paid."""

    deal = models.ForeignKey(FlashDeal, on_delete=models.CASCADE, related_name="claims")
    checkout = models.OneToOneField(
        "orders.Checkout", on_delete=models.CASCADE, related_name="live_deal_claim"
    )
    quantity = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    # Set when the units went back to the deal (the checkout expired, failed or was cancelled).
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(quantity__gte=1), name="live_deal_claim_qty_positive"
            ),
        ]

    def __str__(self):
        return f"{self.quantity} of deal {self.deal_id} for checkout {self.checkout_id}"
