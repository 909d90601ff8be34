"""What the feed API shows and reads. Output is read from the selectors' annotations and
prefetches only (no query per item); input serializers only parse: rules are in services."""

from __future__ import annotations

import re

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from shopfeed.serializers import StrictJSONTypes
from shops.serializers import ProductCardSerializer

from ..engagement.services import MAX_EVENTS_PER_BATCH, MAX_REPLAYS, MAX_WATCH_MS
from ..models import COMMENT_MAX_LENGTH


class VariantChoiceSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    label = serializers.CharField(read_only=True)
    price_amount = serializers.IntegerField(read_only=True, help_text="Minor units (cents).")
    currency = serializers.CharField(read_only=True)
    in_stock = serializers.BooleanField(read_only=True)


class TaggedProductSerializer(ProductCardSerializer):
    variants = VariantChoiceSerializer(many=True, read_only=True, source="variants.all")


class CreatorSerializer(serializers.Serializer):
    handle = serializers.CharField(read_only=True)
    name = serializers.CharField(read_only=True)
    avatar_url = serializers.SerializerMethodField()

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_avatar_url(self, user) -> str | None:
        return user.avatar.url if user.avatar else None


class ReasonSerializer(serializers.Serializer):
    code = serializers.CharField(
        read_only=True,
        help_text="following, similar_watched, similar_liked, similar_bought, rising, "
        "new_creator, fresh, popular_region, popular",
    )
    text = serializers.CharField(read_only=True)


class FeedVideoSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    share_url = serializers.SerializerMethodField(help_text="The video's own page.")
    caption = serializers.CharField(read_only=True)
    hashtags = serializers.SerializerMethodField()
    creator = CreatorSerializer(read_only=True)
    following_creator = serializers.BooleanField(source="viewer_follows", read_only=True)
    liked = serializers.BooleanField(source="viewer_likes", read_only=True)
    poster_url = serializers.SerializerMethodField()
    mp4_url = serializers.SerializerMethodField()
    hls_url = serializers.CharField(read_only=True)
    duration_ms = serializers.IntegerField(read_only=True, allow_null=True)
    width = serializers.IntegerField(read_only=True, allow_null=True)
    height = serializers.IntegerField(read_only=True, allow_null=True)
    like_count = serializers.IntegerField(read_only=True)
    comment_count = serializers.IntegerField(read_only=True)
    share_count = serializers.IntegerField(read_only=True)
    view_count = serializers.IntegerField(read_only=True)
    products = serializers.SerializerMethodField()
    reasons = serializers.SerializerMethodField(
        help_text="Why the ranker showed this video (For You); empty elsewhere."
    )

    def get_share_url(self, video) -> str:
        request = self.context.get("request")
        path = reverse("feed:video", kwargs={"video_id": video.pk})
        return request.build_absolute_uri(path) if request else path

    def get_hashtags(self, video) -> list[str]:
        return [h.name for h in video.hashtags.all()]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_poster_url(self, video) -> str | None:
        return video.poster.url if video.poster else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_mp4_url(self, video) -> str | None:
        return video.mp4_file.url if video.mp4_file else None

    @extend_schema_field(TaggedProductSerializer(many=True))
    def get_products(self, video) -> list[dict]:
        products = [t.product for t in video.tagged_products.all() if t.product is not None]
        if not products:  # most videos: no serializer to build
            return []
        return TaggedProductSerializer(products, many=True, context=self.context).data

    @extend_schema_field(ReasonSerializer(many=True))
    def get_reasons(self, video) -> list[dict]:
        reasons = self.context.get("reasons", {}).get(video.pk, [])
        return [{"code": r["code"], "text": r["text"]} for r in reasons]


class FeedPageSerializer(serializers.Serializer):
    personalised = serializers.BooleanField(
        help_text="False: the non-personalised feed (popular in your region)."
    )
    region = serializers.CharField()
    next = serializers.CharField(allow_null=True, help_text="URL of the next page, if any.")
    results = FeedVideoSerializer(many=True)


class CommentSerializer(StrictJSONTypes, serializers.Serializer):
    """A comment on a video."""

    id = serializers.IntegerField(read_only=True)
    author = serializers.CharField(source="author.handle", read_only=True)
    text = serializers.CharField(max_length=COMMENT_MAX_LENGTH)
    created_at = serializers.DateTimeField(read_only=True)


class CountsSerializer(serializers.Serializer):
    like_count = serializers.IntegerField()
    comment_count = serializers.IntegerField()
    share_count = serializers.IntegerField()
    liked = serializers.BooleanField()


class TextUUIDField(serializers.UUIDField):
    """A UUID written as text only (DRF would also read a number, even `false`, as one)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


class WatchEventSerializer(StrictJSONTypes, serializers.Serializer):
    """One view's figures so far (cumulative)."""

    view_id = TextUUIDField(help_text="Random id the page drew when the video came on.")
    video = serializers.IntegerField(min_value=1)
    watch_ms = serializers.IntegerField(
        min_value=0, max_value=MAX_WATCH_MS, help_text="Played so far in this view."
    )
    completed = serializers.BooleanField(default=False)
    replays = serializers.IntegerField(min_value=0, max_value=MAX_REPLAYS, default=0)


class WatchBatchSerializer(StrictJSONTypes, serializers.Serializer):
    """A batch of watch events (at most 50)."""

    events = WatchEventSerializer(many=True, max_length=MAX_EVENTS_PER_BATCH)


REGION_PATTERN = r"^([A-Za-z]{2})?$"


@extend_schema_field({"type": "string", "pattern": REGION_PATTERN, "maxLength": 2})
class RegionField(serializers.Field):
    """A two-letter country code, or empty (one schema, not DRF's blank-or-pattern oneOf)."""

    default_error_messages = {
        "invalid": "Region is a two-letter country code such as US or DE, or empty."
    }

    def to_internal_value(self, data):
        if not isinstance(data, str) or not re.fullmatch(REGION_PATTERN, data):
            self.fail("invalid")
        return data

    def to_representation(self, value):
        return value


class FeedPreferenceSerializer(StrictJSONTypes, serializers.Serializer):
    """The viewer's control over For You."""

    personalised = serializers.BooleanField()
    region = RegionField(
        required=False,
        default="",
        help_text="Two-letter country code; empty: guessed from the browser.",
    )
