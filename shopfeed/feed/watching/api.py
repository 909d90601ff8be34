"""The feed API under /api/v1/feed/ (DESIGN.md section 7): For You, Following, search, a
video, why it was shown, likes, comments, shares, follows, "not interested", watch events and
the viewer's feed settings. Views parse, call a service or selector, render."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.shortcuts import get_object_or_404
from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from shopfeed import parsers
from shopfeed.accounts.models import User
from shopfeed.pagination import Pagination
from shopfeed.throttling import AnonThrottle, UserThrottle, _LiveSettings

from ..engagement import selectors as viewer_selectors
from ..engagement import services as engagement
from ..models import Video, VideoComment
from ..ranking import services as ranking
from . import selectors
from .serializers import (
    CommentSerializer,
    CountsSerializer,
    FeedPageSerializer,
    FeedPreferenceSerializer,
    FeedVideoSerializer,
    ReasonSerializer,
    WatchBatchSerializer,
)

app_name = "feed_watch_api"

DEFAULT_PAGE = 10
MAX_PAGE = 30


class WatchThrottle(_LiveSettings, ScopedRateThrottle):
    """Watch-event batches per user (or address): the `feed_watch` rate."""


def _viewer_context(request) -> tuple:
    preference = viewer_selectors.preference_of(request.user)
    region = viewer_selectors.viewer_region(
        preference=preference, accept_language=request.headers.get("Accept-Language", "")
    )
    personalised = viewer_selectors.is_personalised(user=request.user, preference=preference)
    return preference, region, personalised


def _int_param(request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit() and low <= int(raw) <= high):
        raise ValidationError({name: [f"A whole number from {low} to {high}."]}, code="invalid")
    return int(raw)


def _video(video_id) -> Video:
    return engagement.get_watchable_video(video_id=video_id)


def _counts(video: Video, user) -> dict:
    video.refresh_from_db(fields=["like_count", "comment_count", "share_count"])
    liked = bool(
        getattr(user, "is_authenticated", False) and video.likes.filter(user=user).exists()
    )
    return {
        "like_count": video.like_count,
        "comment_count": video.comment_count,
        "share_count": video.share_count,
        "liked": liked,
    }


PAGE_PARAMS = [
    OpenApiParameter(
        "page",
        {"type": "integer", "minimum": 1, "maximum": 1000},
        description="Non-personalised feed: page number.",
    ),
    OpenApiParameter(
        "size",
        {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
        description=f"Videos a page, 1-{MAX_PAGE}.",
    ),
]


class ForYouView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        summary="For You",
        description="Personalised for a signed-in viewer (each call returns the next videos "
        "of their precomputed list, never repeated), or the non-personalised list (popular in "
        "the viewer's region, the same for everyone there) for anonymous visitors and viewers "
        "who switched personalisation off.",
        parameters=PAGE_PARAMS,
        responses=FeedPageSerializer,
    )
    def get(self, request):
        _, region, personalised = _viewer_context(request)
        size = _int_param(request, "size", DEFAULT_PAGE, 1, MAX_PAGE)
        page_number = _int_param(request, "page", 1, 1, 1000)
        # Anonymous visitors of one region see the same page: it is kept a few seconds
        # (FEED_ANONYMOUS_PAGE_SECONDS), so a crowd costs one rendering, not one each.
        shared_key = None
        if not request.user.is_authenticated and settings.FEED_ANONYMOUS_PAGE_SECONDS:
            shared_key = f"feed:anon-page:{request.get_host()}:{region}:{page_number}:{size}"
            body = cache.get(shared_key)
            if body is not None:
                return Response(body)
        if personalised:
            page = ranking.for_you_page(user_id=request.user.pk, region=region, size=size)
            next_url = request.build_absolute_uri(f"?size={size}") if page.has_more else None
        else:
            page = ranking.popular_page(region=region, page=page_number, size=size)
            next_url = (
                request.build_absolute_uri(f"?page={page_number + 1}&size={size}")
                if page.has_more
                else None
            )
        videos = selectors.videos_in_order(page.video_ids, viewer=request.user)
        context = {"request": request, "reasons": page.reasons}
        body = {
            "personalised": page.personalised,
            "region": region,
            "next": next_url,
            "results": FeedVideoSerializer(videos, many=True, context=context).data,
        }
        if shared_key:
            cache.set(shared_key, body, settings.FEED_ANONYMOUS_PAGE_SECONDS)
        return Response(body)


class FollowingPagination(CursorPagination):
    ordering = ("-publish_at", "-id")
    page_size = DEFAULT_PAGE


@extend_schema(summary="Following: newest videos of creators you follow (chronological)")
class FollowingView(generics.ListAPIView):
    permission_classes = [IsAuthenticated]
    serializer_class = FeedVideoSerializer
    pagination_class = FollowingPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator
            return Video.objects.none()
        return selectors.following_videos(viewer=self.request.user)


@extend_schema(
    summary="Search videos by #hashtag or caption",
    parameters=[
        OpenApiParameter(
            "q",
            {"type": "string", "minLength": 1, "maxLength": 100, "pattern": r"\S"},
            required=True,
            description="`#tag` for a hashtag, else words of the caption.",
        )
    ],
)
class SearchView(generics.ListAPIView):
    permission_classes = [AllowAny]
    serializer_class = FeedVideoSerializer
    pagination_class = Pagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator
            return Video.objects.none()
        query = self.request.query_params.get("q", "").strip()
        if not query or len(query) > 100:
            raise ValidationError({"q": ["Search for 1-100 characters."]}, code="invalid")
        return selectors.search_videos(query=query, viewer=self.request.user).order_by(
            "-publish_at", "-id"
        )


class VideoDetailView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(summary="One video", responses=FeedVideoSerializer)
    def get(self, request, video_id: int):
        videos = selectors.videos_in_order([video_id], viewer=request.user)
        if not videos:
            return Response({"detail": "No such video.", "code": "no_video"}, status=404)
        return Response(FeedVideoSerializer(videos[0], context={"request": request}).data)


class WhyView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        summary="Why am I seeing this?",
        responses=inline_serializer(
            "WhyResponse",
            {
                "personalised": serializers.BooleanField(),
                "region": serializers.CharField(),
                "reasons": ReasonSerializer(many=True),
            },
        ),
    )
    def get(self, request, video_id: int):
        _video(video_id)
        _, region, personalised = _viewer_context(request)
        reasons = ranking.why(
            user_id=request.user.pk if request.user.is_authenticated else None,
            video_id=video_id,
            region=region,
            personalised=personalised,
        )
        return Response(
            {
                "personalised": personalised,
                "region": region,
                "reasons": [{"code": r["code"], "text": r["text"]} for r in reasons],
            }
        )


class LikeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(summary="Like a video", request=None, responses=CountsSerializer)
    def post(self, request, video_id: int):
        video = _video(video_id)
        engagement.like(user=request.user, video=video)
        return Response(_counts(video, request.user))

    @extend_schema(summary="Take a like back", request=None, responses={200: CountsSerializer})
    def delete(self, request, video_id: int):
        video = _video(video_id)
        engagement.unlike(user=request.user, video=video)
        return Response(_counts(video, request.user))


class CommentsView(generics.ListAPIView):
    serializer_class = CommentSerializer
    pagination_class = Pagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator
            return VideoComment.objects.none()
        return selectors.comments_for(video=_video(self.kwargs["video_id"]))

    @extend_schema(summary="Comment on a video", responses={201: CommentSerializer})
    def post(self, request, video_id: int):
        video = _video(video_id)
        data = CommentSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        comment = engagement.add_comment(
            author=request.user, video=video, text=data.validated_data["text"]
        )
        return Response(CommentSerializer(comment).data, status=status.HTTP_201_CREATED)


class ShareView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        summary="Count a share of the video's link (once per signed-in viewer)",
        request=None,
        responses=CountsSerializer,
    )
    def post(self, request, video_id: int):
        video = _video(video_id)
        engagement.share(user=request.user, video=video)
        return Response(_counts(video, request.user))


class NotInterestedView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(summary="Not interested: never show this video again", request=None,
                   responses={204: None})  # fmt: skip
    def post(self, request, video_id: int):
        engagement.mark_not_interested(user=request.user, video=_video(video_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


FOLLOW_RESPONSE = inline_serializer("FollowState", {"following": serializers.BooleanField()})


class FollowView(APIView):
    permission_classes = [IsAuthenticated]

    def _creator(self, handle: str) -> User:
        return get_object_or_404(User, handle__iexact=handle)

    @extend_schema(summary="Follow a creator", request=None, responses=FOLLOW_RESPONSE)
    def post(self, request, handle: str):
        engagement.follow_creator(user=request.user, creator=self._creator(handle))
        return Response({"following": True})

    @extend_schema(summary="Unfollow a creator", request=None, responses={200: FOLLOW_RESPONSE})
    def delete(self, request, handle: str):
        engagement.unfollow_creator(user=request.user, creator=self._creator(handle))
        return Response({"following": False})


class WatchEventsView(APIView):
    """Watch events in batches. The page sends them with navigator.sendBeacon as a form
    (`csrfmiddlewaretoken` and `events`, a JSON list: a beacon cannot set headers); apps send
    JSON `{"events": [...]}`. Each event carries the view's figures so far, so a batch sent
    twice changes nothing; a view is counted once."""

    permission_classes = [AllowAny]
    throttle_classes = [AnonThrottle, UserThrottle, WatchThrottle]
    throttle_scope = "feed_watch"

    @extend_schema(
        summary="Report watch events (batched)",
        request=WatchBatchSerializer,
        responses=inline_serializer("WatchResult", {"views_started": serializers.IntegerField()}),
    )
    def post(self, request):
        data = request.data
        if not hasattr(data, "get"):
            raise ValidationError({"events": ['Send {"events": [...]}.']})
        if isinstance(data.get("events"), str):  # a beacon's form field
            try:
                data = {"events": parsers.loads(data["events"])}
            except ValueError:
                raise ValidationError({"events": ["Send events as a JSON list."]}) from None
        batch = WatchBatchSerializer(data=data)
        batch.is_valid(raise_exception=True)
        _, region, _ = _viewer_context(request)
        events = [
            engagement.WatchEvent(
                view_token=e["view_id"],
                video_id=e["video"],
                watch_ms=e["watch_ms"],
                completed=e["completed"],
                replays=e["replays"],
            )
            for e in batch.validated_data["events"]
        ]
        started = engagement.record_watch_events(viewer=request.user, region=region, events=events)
        return Response({"views_started": started})


class FeedSettingsView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(summary="Your feed settings", responses=FeedPreferenceSerializer)
    def get(self, request):
        preference = viewer_selectors.preference_of(request.user)
        return Response(
            {
                "personalised": preference.personalised if preference else True,
                "region": preference.region if preference else "",
            }
        )

    @extend_schema(
        summary="Switch personalisation on or off, set your region",
        request=FeedPreferenceSerializer,
        responses=FeedPreferenceSerializer,
    )
    def put(self, request):
        data = FeedPreferenceSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        preference = engagement.set_feed_preference(user=request.user, **data.validated_data)
        return Response({"personalised": preference.personalised, "region": preference.region})


urlpatterns = [
    path("feed/for-you/", ForYouView.as_view(), name="for-you"),
    path("feed/following/", FollowingView.as_view(), name="following"),
    path("feed/search/", SearchView.as_view(), name="search"),
    path("feed/videos/<int:video_id>/", VideoDetailView.as_view(), name="video"),
    path("feed/videos/<int:video_id>/why/", WhyView.as_view(), name="why"),
    path("feed/videos/<int:video_id>/like/", LikeView.as_view(), name="like"),
    path("feed/videos/<int:video_id>/comments/", CommentsView.as_view(), name="comments"),
    path("feed/videos/<int:video_id>/share/", ShareView.as_view(), name="share"),
    path(
        "feed/videos/<int:video_id>/not-interested/",
        NotInterestedView.as_view(),
        name="not-interested",
    ),
    path("feed/creators/<str:handle>/follow/", FollowView.as_view(), name="follow"),
    path("feed/watch-events/", WatchEventsView.as_view(), name="watch-events"),
    path("feed/settings/", FeedSettingsView.as_view(), name="settings"),
]
