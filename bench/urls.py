"""The project's URLs plus the bench's yardstick: a bare DRF list of the same rows as the
shopping tab (the creator's active products, same order, 20 a page) with a few plain
columns and no annotations or joins for display. It lives here so that production never
routes to it."""

from django.http import HttpResponse
from django.urls import include, path
from rest_framework import generics, serializers

from shopfeed.accounts.models import Follow
from shopfeed.feed.models import Video
from shops.models import Product, Shop


class BareProductSerializer(serializers.ModelSerializer):
    class Meta:
        model = Product
        fields = ["id", "handle", "title", "vendor", "product_type", "is_featured", "created_at"]


class BareProductList(generics.ListAPIView):
    serializer_class = BareProductSerializer

    def get_queryset(self):
        return Product.objects.filter(
            shop__owner__handle__iexact=self.kwargs["handle"],
            shop__status=Shop.Status.ACTIVE,
            status=Product.Status.ACTIVE,
        ).order_by("-is_featured", "tab_position", "-created_at")


class BareVideoSerializer(serializers.ModelSerializer):
    class Meta:
        model = Video
        fields = ["id", "caption", "like_count", "comment_count", "share_count", "publish_at"]


class BareVideoList(generics.ListAPIView):
    """The feed's yardstick: the same videos as a feed page (given by id, or the followed
    creators' newest), plain columns, no joins, 10 a page."""

    serializer_class = BareVideoSerializer

    def get_queryset(self):
        ids = self.request.query_params.get("ids")
        if ids:
            return Video.objects.filter(pk__in=[int(i) for i in ids.split(",")]).order_by(
                "-publish_at", "-id"
            )
        followed = Follow.objects.filter(follower=self.request.user).values("creator_id")
        return Video.objects.filter(
            creator_id__in=followed,
            status=Video.Status.READY,
            visibility=Video.Visibility.PUBLIC,
            moderation=Video.Moderation.VISIBLE,
        ).order_by("-publish_at", "-id")

    def paginate_queryset(self, queryset):
        return list(queryset[:10])

    def get_paginated_response(self, data):
        from rest_framework.response import Response

        return Response({"results": data})


def trivial(request):
    """The shopper pages' yardstick: a Django view through the same middleware that does no
    work of its own (no query, no template)."""
    return HttpResponse(b"<!doctype html><title>ok</title><p class=trivial>ok</p>")


urlpatterns = [
    path("bench/trivial/", trivial, name="bench-trivial"),
    path("bench/bare-videos/", BareVideoList.as_view(), name="bench-bare-videos"),
    path(
        "bench/bare-products/<str:handle>/",
        BareProductList.as_view(),
        name="bench-bare-products",
    ),
    path("", include("shopfeed.urls")),
]
