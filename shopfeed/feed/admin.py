from django.contrib import admin

from .models import Hashtag, ModerationAction, Video, VideoProduct, VideoReport, VideoUpload


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
