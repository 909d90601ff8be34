"""What the feed adds to "download my data" and "delete my account" (shopfeed.accounts.privacy;
registered in FeedConfig.ready). The rows themselves go with the account (they point at the
user with CASCADE); the eraser deletes the files of the user's videos from storage first."""

from django.core.files.storage import default_storage

from shopfeed.accounts.privacy.registry import register_eraser, register_exporter

from ..models import (
    FeedPreference,
    NotInterested,
    Video,
    VideoComment,
    VideoLike,
    VideoShare,
    VideoView,
)

VIDEO_FIELDS = (
    "id", "caption", "status", "visibility", "moderation", "hidden_reason", "publish_at",
    "duration_ms", "like_count", "comment_count", "share_count", "view_count", "created_at",
)  # fmt: skip


def export_videos(user) -> list[dict]:
    return list(Video.objects.filter(creator=user).order_by("created_at").values(*VIDEO_FIELDS))


def export_comments(user) -> list[dict]:
    return list(
        VideoComment.objects.filter(author=user)
        .order_by("created_at")
        .values("video_id", "text", "created_at")
    )


def export_likes(user) -> list[dict]:
    return list(
        VideoLike.objects.filter(user=user).order_by("created_at").values("video_id", "created_at")
    )


def export_shares(user) -> list[dict]:
    return list(
        VideoShare.objects.filter(user=user).order_by("created_at").values("video_id", "created_at")
    )


def export_watch_history(user) -> list[dict]:
    return list(
        VideoView.objects.filter(viewer=user)
        .order_by("started_at")
        .values("video_id", "started_at", "watch_ms", "completed", "replays", "region")
    )


def export_feed_settings(user) -> list[dict]:
    rows = list(NotInterested.objects.filter(user=user).values_list("video_id", flat=True))
    preference = FeedPreference.objects.filter(user=user).values("personalised", "region")
    return [{"preference": preference.first(), "not_interested_in_videos": rows}]


def erase_video_files(user) -> None:
    for video in Video.objects.filter(creator=user):
        for field in (video.source_file, video.mp4_file, video.poster):
            if field:
                field.delete(save=False)
        if video.hls_master:
            default_storage.delete(video.hls_master)


def connect() -> None:
    register_exporter("videos", export_videos)
    register_exporter("comments", export_comments)
    register_exporter("likes", export_likes)
    register_exporter("shares", export_shares)
    register_exporter("watch_history", export_watch_history)
    register_exporter("feed_settings", export_feed_settings)
    register_eraser("feed", erase_video_files)
