"""Reads of videos shared by pages and the API."""

from django.db.models import QuerySet
from django.utils import timezone

from .models import Video


def published_videos() -> QuerySet[Video]:
    """Videos anyone may watch now: processed, public, not hidden, publish time reached."""
    return (
        Video.objects.filter(
            status=Video.Status.READY,
            visibility=Video.Visibility.PUBLIC,
            moderation=Video.Moderation.VISIBLE,
            publish_at__lte=timezone.now(),
        )
        .select_related("creator")
        .order_by("-publish_at", "-id")
    )
