"""Short videos: the clip and its renditions, the products tagged on it, hashtags, viewer
reports, and the resumable upload a clip arrives through (DESIGN.md section 5b)."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

CAPTION_MAX_LENGTH = 2200
MAX_TAGGED_PRODUCTS = 6


class Hashtag(models.Model):
    """A hashtag as written without '#', stored lower case (search matches it exactly)."""

    name = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(name=Lower("name")), name="feed_hashtag_lower_case"
            ),
        ]

    def __str__(self):
        return f"#{self.name}"


class Video(models.Model):
    class Status(models.TextChoices):
        UPLOADED = "uploaded", "Uploaded"
        PROCESSING = "processing", "Processing"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    class Visibility(models.TextChoices):
        PUBLIC = "public", "Everyone"
        FOLLOWERS = "followers", "Followers"
        DRAFT = "draft", "Only me (draft)"

    class Moderation(models.TextChoices):
        VISIBLE = "visible", "Visible"
        HIDDEN = "hidden", "Hidden by staff"

    creator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="videos"
    )
    caption = models.TextField(max_length=CAPTION_MAX_LENGTH, blank=True)
    hashtags = models.ManyToManyField(Hashtag, blank=True, related_name="videos")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.UPLOADED)
    failure_reason = models.TextField(blank=True)
    visibility = models.CharField(
        max_length=16, choices=Visibility.choices, default=Visibility.PUBLIC
    )
    # Shown to viewers from this moment (scheduled publish); the upload time when not chosen.
    publish_at = models.DateTimeField(default=timezone.now)
    moderation = models.CharField(
        max_length=16, choices=Moderation.choices, default=Moderation.VISIBLE
    )
    # Shown to the creator on their video list.
    hidden_reason = models.TextField(blank=True)
    hidden_at = models.DateTimeField(null=True, blank=True)

    # The file as uploaded (kept for re-processing), then what processing made of it. All are
    # names in the default storage backend; renditions live under one prefix per attempt.
    source_file = models.FileField(max_length=500, blank=True)
    mp4_file = models.FileField(max_length=500, blank=True)
    hls_master = models.CharField(
        max_length=500, blank=True, help_text="Storage name of the HLS master playlist."
    )
    poster = models.ImageField(max_length=500, blank=True)
    # The frame the creator chose as cover, in milliseconds from the start.
    cover_offset_ms = models.PositiveIntegerField(default=0)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    size_bytes = models.BigIntegerField(default=0, help_text="Size of the uploaded file.")

    # Processing: a worker holds the video until processing_lease_until; a sweep re-queues
    # videos whose lease ran out (the worker died) until attempts reach the limit.
    processing_attempts = models.PositiveSmallIntegerField(default=0)
    processing_lease_until = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    # Denormalised counters, kept by the engagement services.
    like_count = models.PositiveIntegerField(default=0)
    comment_count = models.PositiveIntegerField(default=0)
    share_count = models.PositiveIntegerField(default=0)
    view_count = models.PositiveBigIntegerField(default=0)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-publish_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(status="failed") | ~models.Q(failure_reason=""),
                name="feed_video_failure_has_reason",
            ),
            models.CheckConstraint(
                condition=~models.Q(moderation="hidden") | ~models.Q(hidden_reason=""),
                name="feed_video_hidden_has_reason",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="ready")
                | (~models.Q(mp4_file="") & ~models.Q(poster="")),
                name="feed_video_ready_has_files",
            ),
        ]
        indexes = [
            models.Index(
                fields=["status", "visibility", "moderation", "-publish_at"],
                name="feed_video_published_idx",
            ),
            models.Index(fields=["creator", "-created_at"], name="feed_video_creator_idx"),
            models.Index(
                fields=["processing_lease_until"],
                name="feed_video_lease_idx",
                condition=models.Q(status__in=["uploaded", "processing"]),
            ),
        ]

    def __str__(self):
        return f"Video {self.pk} by {self.creator_id}"

    @property
    def is_hidden(self) -> bool:
        return self.moderation == self.Moderation.HIDDEN

    @property
    def is_published(self) -> bool:
        return (
            self.status == self.Status.READY
            and self.visibility == self.Visibility.PUBLIC
            and self.moderation == self.Moderation.VISIBLE
            and self.publish_at <= timezone.now()
        )

    @property
    def duration_seconds(self) -> int:
        return round((self.duration_ms or 0) / 1000)

    @property
    def hls_url(self) -> str:
        from django.core.files.storage import default_storage

        return default_storage.url(self.hls_master) if self.hls_master else ""


class VideoProduct(models.Model):
    """A product tagged on a video, from the creator's own shop; at most six, in order."""

    video = models.ForeignKey(Video, on_delete=models.CASCADE, related_name="tagged_products")
    product = models.ForeignKey(
        "shops.Product", on_delete=models.CASCADE, related_name="video_tags"
    )
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["video", "product"], name="feed_video_product_once"),
            # Positions 0-5, each once: the database itself holds a video to six products.
            models.UniqueConstraint(fields=["video", "position"], name="feed_video_product_slot"),
            models.CheckConstraint(
                condition=models.Q(position__lt=MAX_TAGGED_PRODUCTS),
                name="feed_video_product_at_most_six",
            ),
        ]

    def __str__(self):
        return f"{self.product_id} on video {self.video_id}"


class VideoReport(models.Model):
    """A viewer's report of a video; one per viewer per video."""

    class Reason(models.TextChoices):
        SPAM = "spam", "Spam or scam"
        NUDITY = "nudity", "Nudity or sexual content"
        VIOLENCE = "violence", "Violence or dangerous acts"
        HATE = "hate", "Hate speech"
        HARASSMENT = "harassment", "Harassment or bullying"
        MISLEADING = "misleading", "Misleading product or false information"
        INTELLECTUAL_PROPERTY = "ip", "Intellectual property"
        MINOR_SAFETY = "minor_safety", "Minor safety"
        OTHER = "other", "Something else"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACTIONED = "actioned", "Video hidden"
        DISMISSED = "dismissed", "Dismissed"

    video = models.ForeignKey(Video, on_delete=models.CASCADE, related_name="reports")
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="video_reports"
    )
    reason = models.CharField(max_length=20, choices=Reason.choices)
    note = models.TextField(max_length=1000, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["video", "reporter"], name="feed_report_once"),
        ]
        indexes = [models.Index(fields=["status", "video"], name="feed_report_open_idx")]

    def __str__(self):
        return f"Report of video {self.video_id}: {self.reason}"


class ModerationAction(models.Model):
    """What staff did to a video and why (the audit row, written with the change)."""

    class Action(models.TextChoices):
        HIDE = "hide", "Hidden"
        RESTORE = "restore", "Restored"
        DISMISS = "dismiss", "Reports dismissed"

    video = models.ForeignKey(Video, on_delete=models.CASCADE, related_name="moderation_actions")
    action = models.CharField(max_length=16, choices=Action.choices)
    reason = models.TextField(blank=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.action} video {self.video_id}"


class VideoUpload(models.Model):
    """A resumable (tus) upload in progress: bytes so far are spooled on local disk
    (VIDEO_UPLOAD_DIR); the details the creator gave are validated when it is created and
    kept here until the last byte arrives and the file is checked."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    creator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="video_uploads"
    )
    length = models.BigIntegerField()
    offset = models.BigIntegerField(default=0)
    # caption, product ids, cover offset, visibility, publish_at (as validated).
    details = models.JSONField(default=dict)
    filename = models.CharField(max_length=255, blank=True)
    # A PATCH holds the upload until then (a conditional update, not a held transaction).
    writing_until = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(offset__gte=0) & models.Q(offset__lte=models.F("length")),
                name="feed_upload_offset_in_range",
            ),
        ]

    def __str__(self):
        return f"Upload {self.id} ({self.offset}/{self.length})"


# --- watching: engagement, views and the viewer's feed settings ---------------------------------
# (issue 11, "Watching"; services in shopfeed/feed/engagement and shopfeed/feed/ranking.)

COMMENT_MAX_LENGTH = 300


class VideoLike(models.Model):
    video = models.ForeignKey(Video, on_delete=models.CASCADE, related_name="likes")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="video_likes"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["video", "user"], name="feed_like_once"),
        ]
        indexes = [models.Index(fields=["user", "-created_at"], name="feed_like_user_idx")]

    def __str__(self):
        return f"{self.user_id} likes {self.video_id}"


class VideoComment(models.Model):
    video = models.ForeignKey(Video, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="video_comments"
    )
    text = models.TextField(max_length=COMMENT_MAX_LENGTH)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["video", "-created_at"], name="feed_comment_video_idx")]

    def __str__(self):
        return f"Comment {self.pk} on {self.video_id}"


class VideoShare(models.Model):
    """A signed-in viewer shared the video's link; counted once per viewer and video."""

    video = models.ForeignKey(Video, on_delete=models.CASCADE, related_name="shares")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="video_shares"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["video", "user"], name="feed_share_once"),
        ]

    def __str__(self):
        return f"{self.user_id} shared {self.video_id}"


class NotInterested(models.Model):
    """The viewer asked not to see this video (and fewer like it) again."""

    video = models.ForeignKey(Video, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="videos_not_interested"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["video", "user"], name="feed_not_interested_once"),
        ]

    def __str__(self):
        return f"{self.user_id} not interested in {self.video_id}"


class VideoPurchase(models.Model):
    """A paid order credited to a video (told by orders through a hook: feed sits below it).
    One per order line's order; a signal for "bought from this video" in ranking."""

    video = models.ForeignKey(Video, on_delete=models.CASCADE, related_name="purchases")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="video_purchases"
    )
    order_ref = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["order_ref"], name="feed_purchase_once_per_order"),
        ]

    def __str__(self):
        return f"{self.user_id} bought from {self.video_id}"


class VideoView(models.Model):
    """One view: from the moment a video came on screen until it left, named by a random id
    the page draws (`view_token`), so every batch that reports on it updates the same row and
    the video's view count goes up once. The page sends cumulative figures, so a batch sent
    twice changes nothing."""

    view_token = models.UUIDField(unique=True)
    video = models.ForeignKey(Video, on_delete=models.CASCADE, related_name="views")
    viewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="video_views",
    )
    # The viewer's region when watching (ISO 3166 alpha-2), for "popular in your region".
    region = models.CharField(max_length=2, blank=True)
    watch_ms = models.PositiveIntegerField(default=0)
    completed = models.BooleanField(default=False)
    replays = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["viewer", "-started_at"], name="feed_view_viewer_idx"),
            models.Index(fields=["video", "-started_at"], name="feed_view_video_idx"),
            models.Index(fields=["region", "-started_at"], name="feed_view_region_idx"),
        ]

    def __str__(self):
        return f"View {self.view_token} of {self.video_id}"


class FeedPreference(models.Model):
    """The viewer's control over For You (EU DSA Art. 27/38): personalised or not, and the
    region "popular in your region" means."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="feed_preference"
    )
    personalised = models.BooleanField(
        default=True,
        help_text="Off: For You shows what is popular in your region, the same for everyone.",
    )
    region = models.CharField(
        max_length=2, blank=True, help_text="ISO 3166 country code; empty: guessed."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(region="") | models.Q(region__regex=r"^[A-Z]{2}$"),
                name="feed_preference_region_code",
            ),
        ]

    def __str__(self):
        return f"Feed preference of {self.user_id}"
