"""Reads of videos shared by pages and the API."""

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from .models import Video, VideoProduct


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


def _with_details(videos: QuerySet[Video]) -> QuerySet[Video]:
    return videos.select_related("creator").prefetch_related(
        "hashtags",
        Prefetch(
            "tagged_products",
            queryset=VideoProduct.objects.select_related("product__shop__owner").order_by(
                "position"
            ),
        ),
    )


def videos_of_creator(*, creator) -> QuerySet[Video]:
    """All of a creator's videos, newest first, whatever their state (their own list)."""
    return _with_details(Video.objects.filter(creator=creator)).order_by("-created_at", "-id")


def video_for_viewer(*, viewer, video_id: int) -> Video | None:
    """The video if `viewer` may see it: anyone once published, its creator always."""
    own = Q(creator_id=viewer.pk) if getattr(viewer, "is_authenticated", False) else Q(pk=None)
    published = Q(pk__in=published_videos().values("pk"))
    return _with_details(Video.objects.filter(own | published)).filter(pk=video_id).first()
