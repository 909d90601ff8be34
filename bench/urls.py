"""The project's URLs plus the bench's yardstick: a bare DRF list of the same rows as the
shopping tab (the creator's active products, same order, 20 a page) with a few plain
columns and no annotations or joins for display. It lives here so that production never
routes to it."""

from django.urls import include, path
from rest_framework import generics, serializers

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


urlpatterns = [
    path(
        "bench/bare-products/<str:handle>/",
        BareProductList.as_view(),
        name="bench-bare-products",
    ),
    path("", include("shopfeed.urls")),
]
