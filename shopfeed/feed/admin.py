"""Staff tools for videos: the review queue (videos with open reports first), hide and
restore with a reason the creator sees, dismiss reports. Actions call the moderation
services, which write an audit row with each change."""

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.shortcuts import render
from django.utils.html import format_html

from shopfeed.admin_utils import ReadOnlyInline

from . import moderation
from .engagement import services as engagement
from .models import (
    FeedPreference,
    Hashtag,
    ModerationAction,
    Video,
    VideoComment,
    VideoProduct,
    VideoPurchase,
    VideoReport,
    VideoUpload,
    VideoView,
)


class VideoProductInline(ReadOnlyInline):
    model = VideoProduct
    fields = ("position", "product")
    readonly_fields = fields


class VideoReportInline(ReadOnlyInline):
    model = VideoReport
    fields = ("created_at", "reporter", "reason", "note", "status")
    readonly_fields = fields


class ModerationActionInline(ReadOnlyInline):
    model = ModerationAction
    fields = ("created_at", "action", "reason", "by")
    readonly_fields = fields


class OpenReportsFilter(admin.SimpleListFilter):
    title = "reports"
    parameter_name = "reported"

    def lookups(self, request, model_admin):
        return [("open", "Has open reports"), ("none", "No open reports")]

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(open_reports__gt=0)
        if self.value() == "none":
            return queryset.filter(open_reports=0)
        return queryset


@admin.register(Video)
class VideoAdmin(admin.ModelAdmin):
    """The review queue: the most-reported videos come first."""

    list_display = ("id", "poster_thumb", "creator", "caption_start", "open_reports",
                    "status", "visibility", "moderation", "publish_at")  # fmt: skip
    list_display_links = ("id", "caption_start")
    list_filter = (OpenReportsFilter, "moderation", "status", "visibility")
    search_fields = ("caption", "creator__handle")
    list_select_related = ("creator",)
    actions = ["hide", "restore", "dismiss"]
    inlines = [VideoReportInline, ModerationActionInline, VideoProductInline]
    fields = ("creator", "caption", "status", "failure_reason", "visibility", "publish_at",
              "moderation", "hidden_reason", "hidden_at", "poster", "mp4_file", "hls_master",
              "duration_ms", "width", "height", "size_bytes", "processing_attempts",
              "like_count", "comment_count", "share_count", "view_count", "created_at")  # fmt: skip
    readonly_fields = fields

    def get_queryset(self, request):
        return moderation.review_queue()

    def has_add_permission(self, request):
        return False

    @admin.display(description="Open reports", ordering="open_reports")
    def open_reports(self, obj):
        return obj.open_reports

    @admin.display(description="Caption")
    def caption_start(self, obj):
        return (obj.caption[:60] + "…") if len(obj.caption) > 60 else obj.caption or "—"

    @admin.display(description="Poster")
    def poster_thumb(self, obj):
        if not obj.poster:
            return "—"
        return format_html('<img src="{}" alt="" height="48">', obj.poster.url)

    @admin.action(description="Hide selected videos (asks for a reason the creator sees)")
    def hide(self, request, queryset):
        reason = (request.POST.get("reason") or "").strip()
        if "apply" in request.POST:
            if not reason:
                self.message_user(request, "Give a reason: the creator sees it.", messages.ERROR)
            else:
                for video in queryset:
                    moderation.hide_video(video=video, reason=reason, by=request.user)
                self.message_user(request, f"Hid {len(queryset)} video(s).")
                return None
        return render(
            request,
            "admin/feed/hide.html",
            {
                **self.admin_site.each_context(request),
                "videos": queryset,
                "reason": reason,
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
                "title": "Hide videos",
                "opts": self.model._meta,
            },
        )

    @admin.action(description="Restore selected hidden videos")
    def restore(self, request, queryset):
        restored = 0
        for video in queryset.filter(moderation=Video.Moderation.HIDDEN):
            moderation.restore_video(video=video, by=request.user)
            restored += 1
        self.message_user(request, f"Restored {restored} video(s).")

    @admin.action(description="Dismiss the open reports of selected videos (they stay up)")
    def dismiss(self, request, queryset):
        closed = sum(moderation.dismiss_reports(video=v, by=request.user) for v in queryset)
        self.message_user(request, f"Dismissed {closed} report(s).")


@admin.register(VideoReport)
class VideoReportAdmin(admin.ModelAdmin):
    list_display = ("video", "reporter", "reason", "status", "created_at")
    list_filter = ("status", "reason")
    list_select_related = ("video", "reporter")
    raw_id_fields = ("video", "reporter", "resolved_by")
    readonly_fields = ("video", "reporter", "reason", "note", "status", "created_at",
                       "resolved_at", "resolved_by")  # fmt: skip

    def has_add_permission(self, request):
        return False


@admin.register(Hashtag)
class HashtagAdmin(admin.ModelAdmin):
    search_fields = ("name",)


@admin.register(VideoUpload)
class VideoUploadAdmin(admin.ModelAdmin):
    """Uploads in progress, to look at: they end by finishing, cancelling or expiring (the
    sweep removes their spooled bytes too), never by an admin delete that would leave those."""

    list_display = ("id", "creator", "offset", "length", "created_at", "expires_at")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    readonly_fields = ("creator", "length", "offset", "details", "filename", "writing_until",
                       "expires_at")  # fmt: skip


# --- watching: comments to moderate, and read-only engagement records ------------------------


@admin.register(VideoComment)
class VideoCommentAdmin(admin.ModelAdmin):
    list_display = ("id", "video", "author", "text", "created_at")
    search_fields = ("text", "author__handle")
    raw_id_fields = ("video", "author")
    actions = ["delete_comments"]

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # counts move with the service, not a bulk delete
        return actions

    @admin.action(description="Delete the selected comments")
    def delete_comments(self, request, queryset):
        comments = list(queryset.select_related("video"))
        for comment in comments:
            engagement.delete_comment(comment=comment, by=request.user)
        self.message_user(request, f"Deleted {len(comments)} comment(s).")

    def has_add_permission(self, request):
        return False


@admin.register(VideoView)
class VideoViewAdmin(admin.ModelAdmin):
    list_display = ("view_token", "video", "viewer", "region", "watch_ms", "completed", "replays")
    list_filter = ("completed", "region")
    raw_id_fields = ("video", "viewer")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(FeedPreference)
class FeedPreferenceAdmin(admin.ModelAdmin):
    list_display = ("user", "personalised", "region", "updated_at")
    list_filter = ("personalised",)
    raw_id_fields = ("user",)


admin.site.register(VideoPurchase, raw_id_fields=("video", "user"))
