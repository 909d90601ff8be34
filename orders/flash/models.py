"""The record of every flash-sale reservation the batch writer has turned into rows.

A reservation is taken in Redis (orders.flash.reserve) and written here once, keyed by its id:
the unique `reservation_id` is what makes a batch written twice (a writer killed between its
commit and its acknowledgement) a no-op.
"""

from django.conf import settings
from django.db import models


class FlashReservation(models.Model):
    class Status(models.TextChoices):
        WRITTEN = "written", "Checkout written"
        REJECTED = "rejected", "Refused when written"

    reservation_id = models.CharField(max_length=32, unique=True)
    variant = models.ForeignKey("shops.Variant", on_delete=models.PROTECT, related_name="+")
    buyer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField()
    # A live flash deal's id (live sits above orders: no foreign key from here).
    deal_id = models.PositiveBigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices)
    reason = models.CharField(max_length=255, blank=True)
    checkout = models.OneToOneField(
        "orders.Checkout",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="flash_reservation",
    )
    reserved_at = models.DateTimeField()
    written_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-reserved_at"]
        indexes = [models.Index(fields=["variant", "buyer"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(quantity__gte=1), name="orders_flash_quantity_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(status="rejected") | models.Q(checkout__isnull=False),
                name="orders_flash_written_has_checkout",
            ),
        ]

    def __str__(self):
        return f"Flash reservation {self.reservation_id} ({self.status})"
