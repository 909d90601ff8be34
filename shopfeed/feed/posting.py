"""Posting a video: the details a creator gives with a clip (caption, hashtags, tagged
products, cover, visibility, schedule), checked before any byte is uploaded and again when
the clip arrives; and deleting one's own video."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from shopfeed.errors import NotAllowed, ShopFeedError
from shops.models import Product, Shop
from shops.moderation import blocked_word_in

from .models import CAPTION_MAX_LENGTH, MAX_TAGGED_PRODUCTS, Hashtag, Video, VideoProduct

# A hashtag is '#' then letters, digits or underscores (any script), as on the big apps.
HASHTAG_RE = re.compile(r"#(\w{1,100})")
MAX_HASHTAGS = 30
MAX_SCHEDULE_DAYS = 30


@dataclass(frozen=True)
class VideoDetails:
    """What a creator says about a clip, as checked (JSON-able: kept on the upload)."""

    caption: str
    hashtags: list[str]
    product_ids: list[int]
    cover_offset_ms: int
    visibility: str
    publish_at: str | None  # ISO 8601, None for "now"

    def as_json(self) -> dict:
        return asdict(self)


def hashtags_in(caption: str) -> list[str]:
    """The caption's hashtags, lower case, in order, each once."""
    seen: dict[str, None] = {}
    for match in HASHTAG_RE.finditer(caption):
        seen.setdefault(match.group(1).casefold(), None)
    return list(seen)


def _check_caption(caption: str, *, shop_id: int | None) -> str:
    caption = caption.strip()
    if len(caption) > CAPTION_MAX_LENGTH:
        raise ShopFeedError(
            f"The caption is {len(caption):,} characters; the limit is {CAPTION_MAX_LENGTH:,}.",
            code="caption_too_long",
            field="caption",
        )
    word = blocked_word_in(caption, shop_id=shop_id)
    if word is not None:
        raise ShopFeedError(
            f"“{word}” is not allowed in captions. Edit the caption and post again.",
            code="blocked_word",
            field="caption",
        )
    if len(hashtags_in(caption)) > MAX_HASHTAGS:
        raise ShopFeedError(
            f"Use at most {MAX_HASHTAGS} hashtags.", code="too_many_hashtags", field="caption"
        )
    return caption


MAX_ID = 2**63 - 1


def _check_products(creator, product_ids: list[int], shop: Shop | None) -> list[int]:
    ids = list(dict.fromkeys(product_ids))
    if any(not 0 < pk <= MAX_ID for pk in ids):
        raise ShopFeedError(
            "Product ids are positive whole numbers.", code="bad_product", field="products"
        )
    if len(ids) > MAX_TAGGED_PRODUCTS:
        raise ShopFeedError(
            f"Tag at most {MAX_TAGGED_PRODUCTS} products.",
            code="too_many_products",
            field="products",
        )
    if not ids:
        return ids
    if shop is None:
        raise ShopFeedError(
            "Open your shop first: tagged products come from your own shop.",
            code="no_shop",
            field="products",
        )
    if shop.is_suspended:
        raise NotAllowed("Your shop is suspended; its products cannot be tagged.")
    found = set(
        Product.objects.filter(shop=shop, pk__in=ids, status=Product.Status.ACTIVE).values_list(
            "pk", flat=True
        )
    )
    if missing := [pk for pk in ids if pk not in found]:
        raise ShopFeedError(
            f"Only active products of your own shop can be tagged (not {missing[0]}).",
            code="product_not_yours",
            field="products",
        )
    return ids


def _check_publish_at(publish_at: datetime | None, now: datetime) -> str | None:
    if publish_at is None:
        return None
    if timezone.is_naive(publish_at):
        raise ShopFeedError(
            "Give the publish time with its time zone.", code="naive_time", field="publish_at"
        )
    if publish_at <= now:
        return None
    if publish_at > now + timedelta(days=MAX_SCHEDULE_DAYS):
        raise ShopFeedError(
            f"Schedule at most {MAX_SCHEDULE_DAYS} days ahead.",
            code="schedule_too_far",
            field="publish_at",
        )
    return publish_at.isoformat()


def check_details(
    *,
    creator,
    caption: str = "",
    product_ids: list[int] | None = None,
    cover_offset_ms: int = 0,
    visibility: str = Video.Visibility.PUBLIC,
    publish_at: datetime | None = None,
) -> VideoDetails:
    """The details as they will be posted, or the domain error that says what to fix."""
    if not getattr(creator, "is_creator", False):
        raise NotAllowed(
            "Only creators can post videos: switch to a creator account first.",
            code="not_a_creator",
        )
    if visibility not in Video.Visibility.values:
        raise ShopFeedError(
            f"Visibility is one of {', '.join(Video.Visibility.values)}.",
            code="bad_visibility",
            field="visibility",
        )
    if not 0 <= cover_offset_ms <= 600_000:
        raise ShopFeedError(
            "The cover time is a moment within the clip (0 to 600 seconds).",
            code="bad_cover_offset",
            field="cover_offset_ms",
        )
    shop = Shop.objects.filter(owner=creator).first()
    caption = _check_caption(caption, shop_id=shop.pk if shop else None)
    return VideoDetails(
        caption=caption,
        hashtags=hashtags_in(caption),
        product_ids=_check_products(creator, product_ids or [], shop),
        cover_offset_ms=cover_offset_ms,
        visibility=visibility,
        publish_at=_check_publish_at(publish_at, timezone.now()),
    )


def recheck_details(*, creator, details: dict) -> VideoDetails:
    """Details kept on an upload, checked again when its last byte arrives (a product may
    have been archived meanwhile). A schedule that has passed means "now"."""
    publish_at = details.get("publish_at")
    return check_details(
        creator=creator,
        caption=details.get("caption", ""),
        product_ids=[int(pk) for pk in details.get("product_ids", [])],
        cover_offset_ms=int(details.get("cover_offset_ms", 0)),
        visibility=details.get("visibility", Video.Visibility.PUBLIC),
        publish_at=datetime.fromisoformat(publish_at) if publish_at else None,
    )


def attach_details(*, video: Video, details: VideoDetails) -> None:
    """Hashtags and tagged products of a new video (inside the caller's transaction)."""
    if details.hashtags:
        existing = {h.name: h for h in Hashtag.objects.filter(name__in=details.hashtags)}
        missing = [Hashtag(name=name) for name in details.hashtags if name not in existing]
        Hashtag.objects.bulk_create(missing, ignore_conflicts=True)
        video.hashtags.set(Hashtag.objects.filter(name__in=details.hashtags))
    VideoProduct.objects.bulk_create(
        VideoProduct(video=video, product_id=pk, position=i)
        for i, pk in enumerate(details.product_ids)
    )


def storage_prefix(video_id: int) -> str:
    return f"videos/{video_id}/"


def delete_stored(names: list[str]) -> None:
    for name in names:
        if name:
            default_storage.delete(name)


def delete_stored_tree(prefix: str) -> None:
    """Delete every stored file under `prefix` (a directory in the storage backend)."""
    prefix = prefix.rstrip("/")
    try:
        dirs, files = default_storage.listdir(prefix)
    except FileNotFoundError:
        return
    for name in files:
        default_storage.delete(f"{prefix}/{name}")
    for sub in dirs:
        delete_stored_tree(f"{prefix}/{sub}")


@transaction.atomic
def delete_video(*, video: Video, by) -> None:
    """The creator deletes their own video: its rows now, its files once that is committed."""
    if video.creator_id != getattr(by, "pk", None):
        raise NotAllowed("Only the creator can delete this video.")
    named = [video.source_file.name or "", video.mp4_file.name or "", video.poster.name or ""]
    video_id = video.pk
    video.delete()

    def remove_files():
        delete_stored(named)
        delete_stored_tree(storage_prefix(video_id))

    transaction.on_commit(remove_files)
