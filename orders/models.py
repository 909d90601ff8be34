from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models

# The ledger's tables are defined in orders/ledger/models.py; imported here, they are this
# app's models like the rest.
from .flash.models import FlashReservation
from .ledger.models import LedgerAccount, LedgerEntry, LedgerTransaction

__all__ = [
    "Address",
    "Cart",
    "CartItem",
    "Checkout",
    "FlashReservation",
    "LedgerAccount",
    "LedgerEntry",
    "LedgerTransaction",
    "Order",
    "OrderEvent",
    "OrderItem",
    "PaymentProfile",
    "Payout",
    "PayoutAccount",
    "Refund",
    "SaleSource",
    "SavedCard",
    "StripeEvent",
]


class SaleSource(models.TextChoices):
    PRODUCT_PAGE = "product_page", "Product page"
    SHOPPING_TAB = "shopping_tab", "Shopping tab"
    SEARCH = "search", "Search"
    LIVE = "live", "Live session"
    VIDEO = "video", "Video"
    OTHER = "other", "Other"


class Address(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="addresses"
    )
    full_name = models.CharField(max_length=120)
    line1 = models.CharField(max_length=200)
    line2 = models.CharField(max_length=200, blank=True)
    # Which of city, region and postal code an address needs depends on its country
    # (orders.addresses.postal): Japan has no city field, Hong Kong no postcodes.
    city = models.CharField(max_length=100, blank=True)
    region = models.CharField(max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=2, help_text="ISO 3166 two-letter code, e.g. US.")
    phone = models.CharField(max_length=30, blank=True)
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-is_default", "-created_at"]
        verbose_name_plural = "addresses"

    def __str__(self):
        return f"{self.full_name}, {self.line1}, {self.city}"

    def snapshot(self) -> dict:
        fields = (
            "full_name",
            "line1",
            "line2",
            "city",
            "region",
            "postal_code",
            "country",
            "phone",
        )
        return {f: getattr(self, f) for f in fields}


class Cart(models.Model):
    """A signed-in shopper's cart, or an anonymous one keyed by session (merged at login)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="cart",
    )
    session_key = models.CharField(max_length=40, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(user__isnull=False) | models.Q(session_key__isnull=False),
                name="orders_cart_has_owner",
            ),
        ]

    def __str__(self):
        return f"Cart {self.pk}"


class CartItem(models.Model):
    cart = models.ForeignKey(Cart, on_delete=models.CASCADE, related_name="items")
    variant = models.ForeignKey("shops.Variant", on_delete=models.CASCADE, related_name="+")
    quantity = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    source = models.CharField(
        max_length=20, choices=SaleSource.choices, default=SaleSource.PRODUCT_PAGE
    )
    source_ref = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["cart", "variant"], name="orders_cartitem_once"),
            models.CheckConstraint(
                condition=models.Q(quantity__gte=1), name="orders_cartitem_qty_positive"
            ),
        ]

    def __str__(self):
        return f"{self.quantity} × variant {self.variant_id}"


class Checkout(models.Model):
    """One payment covering one order per shop."""

    class Status(models.TextChoices):
        OPEN = "open", "Awaiting payment"
        PAID = "paid", "Paid"
        EXPIRED = "expired", "Expired"
        FAILED = "failed", "Payment failed"
        CANCELLED = "cancelled", "Cancelled"

    buyer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="checkouts"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    total_amount = models.PositiveBigIntegerField()
    currency = models.CharField(max_length=3)
    shipping_address = models.JSONField(default=dict)
    # Built from our own id before any call to Stripe, so a retry replays the same request.
    idempotency_key = models.CharField(max_length=80, unique=True, null=True, blank=True)
    payment_intent_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    client_secret = models.CharField(max_length=255, blank=True)
    amount_received = models.PositiveBigIntegerField(default=0)
    expires_at = models.DateTimeField()
    paid_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "expires_at"])]

    def __str__(self):
        return f"Checkout {self.pk} ({self.status})"


class Order(models.Model):
    class Status(models.TextChoices):
        PENDING_PAYMENT = "pending_payment", "Pending payment"
        PAID = "paid", "Paid"
        SHIPPED = "shipped", "Shipped"
        DELIVERED = "delivered", "Delivered"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"

    checkout = models.ForeignKey(Checkout, on_delete=models.PROTECT, related_name="orders")
    shop = models.ForeignKey("shops.Shop", on_delete=models.PROTECT, related_name="orders")
    buyer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING_PAYMENT)
    currency = models.CharField(max_length=3)
    subtotal_amount = models.PositiveBigIntegerField()
    shipping_amount = models.PositiveBigIntegerField(default=0)
    total_amount = models.PositiveBigIntegerField()
    fee_amount = models.PositiveBigIntegerField(default=0, help_text="Platform fee on this order.")
    refunded_amount = models.PositiveBigIntegerField(default=0)
    source = models.CharField(
        max_length=20, choices=SaleSource.choices, default=SaleSource.PRODUCT_PAGE
    )
    source_ref = models.CharField(max_length=64, blank=True, help_text="e.g. the live session id.")
    shipping_address = models.JSONField(default=dict)
    carrier = models.CharField(max_length=60, blank=True)
    tracking_number = models.CharField(max_length=100, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    # When the seller's payable for this order becomes withdrawable (delivery + hold).
    release_at = models.DateTimeField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["shop", "status", "-created_at"]),
            models.Index(fields=["buyer", "-created_at"]),
            models.Index(fields=["status", "release_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(refunded_amount__lte=models.F("total_amount")),
                name="orders_order_refund_at_most_total",
            ),
        ]

    def __str__(self):
        return f"Order {self.pk}"

    @property
    def refundable_amount(self) -> int:
        return self.total_amount - self.refunded_amount


class OrderItem(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    variant = models.ForeignKey("shops.Variant", on_delete=models.PROTECT, related_name="+")
    product_title = models.CharField(max_length=255)
    variant_label = models.CharField(max_length=255, blank=True)
    sku = models.CharField(max_length=64, blank=True)
    unit_price_amount = models.PositiveBigIntegerField()
    quantity = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    line_total_amount = models.PositiveBigIntegerField()

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.quantity} × {self.product_title}"


class OrderEvent(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=40)
    message = models.TextField(blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"{self.kind} on order {self.order_id}"


class Refund(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="refunds")
    amount = models.PositiveBigIntegerField(validators=[MinValueValidator(1)])
    currency = models.CharField(max_length=3)
    reason = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    idempotency_key = models.CharField(max_length=80, unique=True)
    stripe_refund_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Refund {self.pk} of {self.amount} {self.currency} ({self.status})"


class StripeEvent(models.Model):
    """Every webhook event once: the unique id makes a replay a no-op."""

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [
            # The payment sweep asks every few seconds for what is still unprocessed.
            models.Index(
                fields=["received_at"],
                condition=models.Q(processed_at__isnull=True),
                name="orders_stripeevent_unprocessed",
            )
        ]

    def __str__(self):
        return f"{self.type} {self.event_id}"


class PayoutAccount(models.Model):
    """Where a shop's money goes (a Stripe Connect account), and whether staff hold it."""

    shop = models.OneToOneField(
        "shops.Shop", on_delete=models.CASCADE, related_name="payout_account"
    )
    stripe_account_id = models.CharField(max_length=255, blank=True)
    payouts_held = models.BooleanField(default=False)
    hold_reason = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"Payout account of {self.shop}"


class Payout(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        PAID = "paid", "Paid"
        FAILED = "failed", "Failed"

    shop = models.ForeignKey("shops.Shop", on_delete=models.PROTECT, related_name="payouts")
    amount = models.PositiveBigIntegerField(validators=[MinValueValidator(1)])
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    destination = models.CharField(max_length=255, help_text="Stripe Connect account id.")
    stripe_transfer_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self):
        return f"Payout {self.pk} ({self.status})"

    @property
    def idempotency_key(self) -> str:
        return f"payout-{self.pk}"


class PaymentProfile(models.Model):
    """A buyer's Stripe Customer: where their saved cards are attached."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="payment_profile"
    )
    stripe_customer_id = models.CharField(max_length=255, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"Payment profile of user {self.user_id}"


class SavedCard(models.Model):
    """A card a buyer chose to keep for one-tap buying (Stripe holds the card; we keep labels)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_cards"
    )
    payment_method_id = models.CharField(max_length=255, unique=True)
    brand = models.CharField(max_length=30, blank=True)
    last4 = models.CharField(max_length=4)
    exp_month = models.PositiveSmallIntegerField(null=True, blank=True)
    exp_year = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.brand or 'Card'} •••• {self.last4}"
