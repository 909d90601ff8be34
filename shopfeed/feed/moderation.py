"""Moderation of videos: viewers report, staff hide or restore with a reason the creator sees
(an audit row written with each change), and open reports are closed by the decision."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from shopfeed.errors import Conflict, NotAllowed, ShopFeedError

from .models import ModerationAction, Video, VideoReport


def report_video(*, video: Video, reporter, reason: str, note: str = "") -> VideoReport:
    if not getattr(reporter, "is_authenticated", False):
        raise NotAllowed("Log in to report a video.", code="login_required")
    if video.creator_id == reporter.pk:
        raise ShopFeedError("You cannot report your own video.", code="own_video")
    if reason not in VideoReport.Reason.values:
        raise ShopFeedError("Choose a reason for the report.", code="bad_reason", field="reason")
    try:
        with transaction.atomic():
            return VideoReport.objects.create(
                video=video, reporter=reporter, reason=reason, note=note.strip()[:1000]
            )
    except IntegrityError:
        raise Conflict(
            "You have already reported this video; our team will look at it.",
            code="already_reported",
        ) from None


def _lock(video: Video) -> Video:
    return Video.objects.select_for_update(of=("self",)).get(pk=video.pk)


def _close_reports(video: Video, status: str, by) -> None:
    VideoReport.objects.filter(video=video, status=VideoReport.Status.OPEN).update(
        status=status, resolved_at=timezone.now(), resolved_by=by
    )


@transaction.atomic
def hide_video(*, video: Video, reason: str, by) -> Video:
    """Take a video out of every feed; the creator sees why on their video list."""
    reason = (reason or "").strip()
    if not reason:
        raise ShopFeedError(
            "Say why the video is hidden: the creator sees it.", code="reason_required"
        )
    video = _lock(video)
    video.moderation = Video.Moderation.HIDDEN
    video.hidden_reason = reason
    video.hidden_at = timezone.now()
    video.save(update_fields=["moderation", "hidden_reason", "hidden_at", "updated_at"])
    ModerationAction.objects.create(video=video, action=ModerationAction.Action.HIDE,
                                    reason=reason, by=by)  # fmt: skip
    _close_reports(video, VideoReport.Status.ACTIONED, by)
    return video


@transaction.atomic
def restore_video(*, video: Video, reason: str = "", by) -> Video:
    video = _lock(video)
    if video.moderation != Video.Moderation.HIDDEN:
        raise Conflict("This video is not hidden.", code="not_hidden")
    video.moderation = Video.Moderation.VISIBLE
    video.hidden_reason = ""
    video.hidden_at = None
    video.save(update_fields=["moderation", "hidden_reason", "hidden_at", "updated_at"])
    ModerationAction.objects.create(video=video, action=ModerationAction.Action.RESTORE,
                                    reason=(reason or "").strip(), by=by)  # fmt: skip
    return video


@transaction.atomic
def dismiss_reports(*, video: Video, by) -> int:
    """Staff looked and the video stays: its open reports are closed."""
    video = _lock(video)
    ModerationAction.objects.create(video=video, action=ModerationAction.Action.DISMISS, by=by)
    return VideoReport.objects.filter(video=video, status=VideoReport.Status.OPEN).update(
        status=VideoReport.Status.DISMISSED, resolved_at=timezone.now(), resolved_by=by
    )


def review_queue() -> QuerySet[Video]:
    """Videos for staff to review: the most open reports first, then the oldest report."""
    return (
        Video.objects.select_related("creator")
        .annotate(
            open_reports=Count("reports", filter=Q(reports__status=VideoReport.Status.OPEN)),
        )
        .order_by("-open_reports", "-created_at")
    )
