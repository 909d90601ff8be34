"""Reads the feed pages and the feed API share: a page of videos with everything a slide
shows (creator, counts, the viewer's like and follow, hashtags, tagged products with their
variants and cover) in a fixed number of queries however many videos it holds."""

from __future__ import annotations

import functools

from django.db.models import BooleanField, Exists, OuterRef, Prefetch, Q, QuerySet, Value

from shopfeed.accounts.models import Follow
from shops.selectors import visible_products

from ..models import Hashtag, Video, VideoComment, VideoLike, VideoProduct
from ..selectors import published_videos


@functools.cache
def _tagged_products() -> QuerySet:
    # Built once per process (the card annotations take ~10 ms of Python to assemble) and
    # cloned for each page; never evaluated itself.
    return visible_products().prefetch_related("variants")


def with_slide_details(qs: QuerySet[Video], *, viewer) -> QuerySet[Video]:
    products = _tagged_products().all()
    qs = qs.prefetch_related(
        "hashtags",
        Prefetch("tagged_products", queryset=VideoProduct.objects.order_by("position", "id")),
        Prefetch("tagged_products__product", queryset=products),
    )
    if getattr(viewer, "is_authenticated", False):
        return qs.annotate(
            viewer_likes=Exists(VideoLike.objects.filter(video=OuterRef("pk"), user=viewer)),
            viewer_follows=Exists(
                Follow.objects.filter(creator=OuterRef("creator_id"), follower=viewer)
            ),
        )
    return qs.annotate(
        viewer_likes=Value(False, output_field=BooleanField()),
        viewer_follows=Value(False, output_field=BooleanField()),
    )


def videos_in_order(video_ids: list[int], *, viewer) -> list[Video]:
    """The watchable ones of `video_ids`, in that order (a video hidden since is left out)."""
    if not video_ids:
        return []
    found = {
        v.pk: v
        for v in with_slide_details(published_videos().filter(pk__in=video_ids), viewer=viewer)
    }
    return [found[vid] for vid in video_ids if vid in found]


def following_videos(*, viewer) -> QuerySet[Video]:
    """Chronological: the newest videos of creators the viewer follows."""
    followed = Follow.objects.filter(follower=viewer).values("creator_id")
    return with_slide_details(published_videos().filter(creator_id__in=followed), viewer=viewer)


def search_videos(*, query: str, viewer) -> QuerySet[Video]:
    """`#tag` finds that hashtag exactly; other words the caption or a hashtag."""
    query = query.strip()
    qs = published_videos()
    if query.startswith("#"):
        tag = query.lstrip("#").strip().lower()
        qs = qs.filter(Exists(Hashtag.objects.filter(videos=OuterRef("pk"), name=tag)))
    else:
        qs = qs.filter(
            Q(caption__icontains=query)
            | Exists(Hashtag.objects.filter(videos=OuterRef("pk"), name=query.lower()))
        )
    return with_slide_details(qs, viewer=viewer)


def comments_for(*, video: Video) -> QuerySet[VideoComment]:
    return VideoComment.objects.filter(video=video).select_related("author")


def video_sells_product(*, product, ref: str) -> bool:
    """Whether a sale of `product` may be credited to the video `ref`: the video is watchable
    now and has the product tagged (orders asks through its source hook: feed sits below it)."""
    if not (ref.isascii() and ref.isdigit()):
        return False
    return published_videos().filter(pk=int(ref), tagged_products__product_id=product.pk).exists()
