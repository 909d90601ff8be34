from django.core.files.storage import default_storage
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .models import Video, VideoProduct, VideoReport


class VideoCreatorSerializer(serializers.Serializer):
    handle = serializers.CharField(read_only=True)
    name = serializers.CharField(read_only=True)


class VideoTagSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(source="product_id", read_only=True)
    title = serializers.CharField(source="product.title", read_only=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = VideoProduct
        fields = ("id", "title", "url", "position")

    def get_url(self, obj) -> str:
        return obj.product.get_absolute_url()


def _url(name: str) -> str | None:
    return default_storage.url(name) if name else None


class VideoSerializer(serializers.ModelSerializer):
    """A video as its viewers and its creator see it. `failure_reason` and `hidden_reason`
    are filled for the creator only."""

    creator = VideoCreatorSerializer(read_only=True)
    hashtags = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)
    products = VideoTagSerializer(source="tagged_products", many=True, read_only=True)
    poster_url = serializers.SerializerMethodField()
    mp4_url = serializers.SerializerMethodField()
    hls_url = serializers.SerializerMethodField()
    failure_reason = serializers.SerializerMethodField()
    hidden_reason = serializers.SerializerMethodField()

    class Meta:
        model = Video
        fields = (
            "id", "creator", "caption", "hashtags", "products", "status", "failure_reason",
            "visibility", "publish_at", "moderation", "hidden_reason", "poster_url", "mp4_url",
            "hls_url", "duration_ms", "width", "height", "like_count", "comment_count",
            "share_count", "view_count", "created_at",
        )  # fmt: skip
        read_only_fields = fields

    def _is_owner(self, obj) -> bool:
        request = self.context.get("request")
        return bool(request and request.user.is_authenticated and request.user.pk == obj.creator_id)

    @extend_schema_field({"type": "string", "format": "uri", "nullable": True})
    def get_poster_url(self, obj) -> str | None:
        return _url(obj.poster.name) if obj.status == Video.Status.READY else None

    @extend_schema_field({"type": "string", "format": "uri", "nullable": True})
    def get_mp4_url(self, obj) -> str | None:
        return _url(obj.mp4_file.name) if obj.status == Video.Status.READY else None

    @extend_schema_field({"type": "string", "format": "uri", "nullable": True})
    def get_hls_url(self, obj) -> str | None:
        return _url(obj.hls_master) if obj.status == Video.Status.READY else None

    def get_failure_reason(self, obj) -> str:
        return obj.failure_reason if self._is_owner(obj) else ""

    def get_hidden_reason(self, obj) -> str:
        return obj.hidden_reason if self._is_owner(obj) else ""


class ReportSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=VideoReport.Reason.choices)
    note = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")


class ReportResultSerializer(serializers.ModelSerializer):
    class Meta:
        model = VideoReport
        fields = ("id", "reason", "note", "status", "created_at")
        read_only_fields = fields


class UploadStateSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    offset = serializers.IntegerField(read_only=True)
    length = serializers.IntegerField(read_only=True)
    expires_at = serializers.DateTimeField(read_only=True)
