import uuid

from django.contrib.auth.models import AbstractUser
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower

from shopfeed.images import UploadedImageField

handle_validator = RegexValidator(
    r"^[A-Za-z0-9_.]{2,30}$",
    "A handle is 2-30 letters, digits, underscores or dots.",
)


class User(AbstractUser):
    handle = models.CharField(
        max_length=30,
        unique=True,
        validators=[handle_validator],
        help_text="Public name in URLs: /@handle/.",
    )
    display_name = models.CharField(max_length=80, blank=True)
    avatar = UploadedImageField(upload_to="avatars/%Y/%m/", blank=True)
    bio = models.TextField(max_length=500, blank=True)
    birth_date = models.DateField(null=True, blank=True)
    is_creator = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("handle"), name="accounts_user_handle_ci_unique"),
        ]

    def __str__(self):
        return f"@{self.handle}"

    @property
    def name(self) -> str:
        return self.display_name or self.handle


class Follow(models.Model):
    follower = models.ForeignKey(User, on_delete=models.CASCADE, related_name="following")
    creator = models.ForeignKey(User, on_delete=models.CASCADE, related_name="followers")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["follower", "creator"], name="accounts_follow_once"),
            models.CheckConstraint(
                condition=~models.Q(follower=models.F("creator")), name="accounts_no_self_follow"
            ),
        ]

    def __str__(self):
        return f"{self.follower} → {self.creator}"


class DataExport(models.Model):
    """A user's "download my data" archive: built by a Celery task, linked by email, deleted
    (file and row) when it expires."""

    class Status(models.TextChoices):
        PENDING = "pending", "Being prepared"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="data_exports")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    archive = models.FileField(upload_to="exports/", max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Data export {self.id} of {self.user_id}"
