from django.contrib import admin

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


class VideoProductInline(admin.TabularInline):
    model = VideoProduct
    extra = 0
    raw_id_fields = ("product",)


@admin.register(Video)
class VideoAdmin(admin.ModelAdmin):
    list_display = ("id", "creator", "status", "visibility", "moderation", "publish_at")
    list_filter = ("status", "visibility", "moderation")
    search_fields = ("caption", "creator__handle")
    raw_id_fields = ("creator",)
    filter_horizontal = ("hashtags",)
    inlines = [VideoProductInline]


@admin.register(VideoReport)
class VideoReportAdmin(admin.ModelAdmin):
    list_display = ("video", "reporter", "reason", "status", "created_at")
    list_filter = ("status", "reason")
    raw_id_fields = ("video", "reporter", "resolved_by")


@admin.register(Hashtag)
class HashtagAdmin(admin.ModelAdmin):
    search_fields = ("name",)


admin.site.register(ModerationAction)
admin.site.register(VideoUpload)


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
