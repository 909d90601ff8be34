"""API v1 for shops, products, variants, images, shopping tabs and search (DESIGN.md section 7).

Views parse with a serializer, call a service, then re-read through a selector and render.
Reads are open to everyone; writes need the shop's owner (checked here by `OwnerOnlyWrites`
and again by the services). Lists read through the selectors so their query count stays the
same however many rows there are.
"""

import django_filters
from django import forms
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import exceptions, generics, mixins, status, viewsets
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticatedOrReadOnly
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from shopfeed import parsers
from shopfeed.errors import NotAllowed
from shopfeed.pagination import Pagination
from shopfeed.throttling import _LiveSettings

from . import selectors, services, tab_cache
from .filters import ProductFilter
from .models import Product, ProductImage, Shop, Variant
from .serializers import (
    MAX_INT,
    ProductCardSerializer,
    ProductImageSerializer,
    ProductSerializer,
    ShopSerializer,
    VariantSerializer,
)

app_name = "shops_api"


# --- plumbing ------------------------------------------------------------------------------


def owner_id_of(obj) -> int | None:
    if isinstance(obj, Shop):
        return obj.owner_id
    if isinstance(obj, Product):
        return obj.shop.owner_id
    if isinstance(obj, Variant | ProductImage):
        return obj.product.shop.owner_id
    return None


class OwnerOnlyWrites(BasePermission):
    """Anyone reads; only the owner of the shop an object belongs to writes."""

    message = "Only the shop's owner can change it."

    def has_object_permission(self, request, view, obj):
        if request.method in SAFE_METHODS:
            return True
        return bool(request.user and request.user.is_authenticated) and (
            owner_id_of(obj) == request.user.pk
        )


class StrictBooleanField(forms.Field):
    """true or false, nothing else (the page's form reads anything else as "not set")."""

    def to_python(self, value):
        if value is None:
            return None
        if value in ("true", "false"):
            return value == "true"
        raise DjangoValidationError("Use true or false.", code="invalid")


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


class IntegerFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField


PRICE_SCHEMA = {"type": "integer", "minimum": 0, "maximum": MAX_INT}


class APIProductFilter(ProductFilter):
    """The pages' filters, read as the schema documents them: whole-cent prices, a category
    slug that matches no product when unknown, and a strict boolean."""

    category = django_filters.CharFilter(field_name="category__slug", label="Category slug")
    min_price = extend_schema_field(PRICE_SCHEMA)(
        IntegerFilter(
            field_name="max_price_amount",
            lookup_expr="gte",
            label="Min price (cents)",
            min_value=0,
            max_value=MAX_INT,
        )
    )
    max_price = extend_schema_field(PRICE_SCHEMA)(
        IntegerFilter(
            field_name="min_price_amount",
            lookup_expr="lte",
            label="Max price (cents)",
            min_value=0,
            max_value=MAX_INT,
        )
    )
    in_stock = extend_schema_field(OpenApiTypes.BOOL)(
        StrictBooleanFilter(method="filter_in_stock", label="In stock only")
    )


class ProductFilterBackend(DjangoFilterBackend):
    """django-filter, minus the parameters a view has already applied (`filterset_skip`)."""

    def get_filterset_kwargs(self, request, queryset, view):
        kwargs = super().get_filterset_kwargs(request, queryset, view)
        skip = getattr(view, "filterset_skip", ())
        if skip:
            data = kwargs["data"].copy()
            for name in skip:
                data.pop(name, None)
            kwargs["data"] = data
        return kwargs


class APIBase:
    permission_classes = [IsAuthenticatedOrReadOnly, OwnerOnlyWrites]
    pagination_class = Pagination
    filter_backends: list = []

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # Every query parameter here is a single value; a repeated one is not silently cut.
        repeated = sorted(k for k, values in request.query_params.lists() if len(values) > 1)
        if repeated:
            raise exceptions.ValidationError({k: ["Give this parameter once."] for k in repeated})

    def permission_denied(self, request, message=None, code=None):
        # Signed in but refused: the domain error, so the body carries a `code`.
        if request.authenticators and not request.successful_authenticator:
            raise exceptions.NotAuthenticated()
        raise NotAllowed(message or NotAllowed.__doc__, code=code)


def readable(user) -> Q:
    """Products a user may read: visible ones, plus every product of their own shop."""
    q = Q(status=Product.Status.ACTIVE, shop__status=Shop.Status.ACTIVE)
    if user is not None and user.is_authenticated:
        q |= Q(shop__owner_id=user.pk)
    return q


def _fake(view) -> bool:
    # drf-spectacular builds views without a real request while it writes the schema.
    return getattr(view, "swagger_fake_view", False)


# --- shops ---------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Active shops (plus your own)"),
    retrieve=extend_schema(
        summary="One shop",
        description="A suspended shop is found only by its owner, who also sees why.",
    ),
    create=extend_schema(summary="Open your shop (creator accounts only)"),
    partial_update=extend_schema(summary="Change your shop"),
)
class ShopViewSet(
    APIBase,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = ShopSerializer
    lookup_field = "slug"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        visible = Q(status=Shop.Status.ACTIVE)
        if self.request.user.is_authenticated:
            visible |= Q(owner_id=self.request.user.pk)
        return Shop.objects.select_related("owner").filter(visible).order_by("name", "pk")

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        shop = services.open_shop(owner=request.user, **serializer.validated_data)
        return Response(self.get_serializer(shop).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        shop = self.get_object()
        serializer = self.get_serializer(shop, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        shop = services.update_shop(shop=shop, by=request.user, **serializer.validated_data)
        return Response(self.get_serializer(shop).data)


# --- products ------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Products on sale, across active shops"),
    retrieve=extend_schema(summary="One product (visible, or any of your own)"),
    create=extend_schema(summary="Add a product to your shop, optionally with its variants"),
    partial_update=extend_schema(summary="Change your product"),
    destroy=extend_schema(summary="Archive your product", responses={204: None}),
)
class ProductViewSet(
    APIBase,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = ProductSerializer
    filter_backends = [ProductFilterBackend]
    filterset_class = APIProductFilter
    lookup_value_regex = r"\d+"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        if _fake(self):
            return Product.objects.none()
        if self.action == "list":
            return selectors.with_product_details(selectors.visible_products()).order_by(
                "-created_at", "-pk"
            )
        return selectors.product_detail_queryset().filter(readable(self.request.user))

    def filter_queryset(self, queryset):
        # Filters narrow the list; a product's own URL is not filtered away by stray params.
        return super().filter_queryset(queryset) if self.action == "list" else queryset

    def _fresh(self, product: Product) -> Product:
        return selectors.product_detail_queryset().get(pk=product.pk)

    def create(self, request, *args, **kwargs):
        shop = Shop.objects.filter(owner_id=request.user.pk).first()
        if shop is None:
            raise NotAllowed("Open a shop before adding products.", code="no_shop")
        self._shop = shop  # the serializer checks the handle is free in this shop
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        product = services.create_product(shop=shop, by=request.user, **serializer.validated_data)
        return Response(
            self.get_serializer(self._fresh(product)).data, status=status.HTTP_201_CREATED
        )

    def partial_update(self, request, *args, **kwargs):
        product = self.get_object()
        serializer = self.get_serializer(product, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        services.update_product(product=product, by=request.user, **serializer.validated_data)
        return Response(self.get_serializer(self._fresh(product)).data)

    def destroy(self, request, *args, **kwargs):
        services.archive_product(product=self.get_object(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "shop": getattr(self, "_shop", None)}


PRODUCT_ID = OpenApiParameter("product_pk", OpenApiTypes.INT, OpenApiParameter.PATH)


class ProductChildBase(APIBase):
    """Base of the endpoints under /products/<id>/: the product is read (or owned) first."""

    lookup_value_regex = r"\d+"

    def get_product(self) -> Product:
        if not hasattr(self, "_product"):
            products = Product.objects.select_related("shop", "shop__owner").filter(
                readable(self.request.user)
            )
            product = get_object_or_404(products, pk=self.kwargs["product_pk"])
            if self.request.method not in SAFE_METHODS:
                self.check_object_permissions(self.request, product)
            self._product = product
        return self._product


@extend_schema_view(
    list=extend_schema(summary="A product's variants", parameters=[PRODUCT_ID]),
    retrieve=extend_schema(summary="One variant", parameters=[PRODUCT_ID]),
    create=extend_schema(summary="Add a variant to your product", parameters=[PRODUCT_ID]),
    partial_update=extend_schema(summary="Change a variant", parameters=[PRODUCT_ID]),
    destroy=extend_schema(summary="Delete a variant", parameters=[PRODUCT_ID]),
)
class VariantViewSet(
    ProductChildBase,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = VariantSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        if _fake(self):
            return Variant.objects.none()
        return self.get_product().variants.order_by("position", "id")

    def create(self, request, *args, **kwargs):
        product = self.get_product()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        variant = services.save_variant(
            product=product, by=request.user, **serializer.validated_data
        )
        return Response(self.get_serializer(variant).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        variant = self.get_object()
        serializer = self.get_serializer(variant, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        variant = services.save_variant(
            product=self.get_product(),
            by=request.user,
            variant=variant,
            **serializer.validated_data,
        )
        return Response(self.get_serializer(variant).data)

    def destroy(self, request, *args, **kwargs):
        services.delete_variant(variant=self.get_object(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    list=extend_schema(summary="A product's images, in order", parameters=[PRODUCT_ID]),
    create=extend_schema(summary="Upload an image to your product", parameters=[PRODUCT_ID]),
    destroy=extend_schema(summary="Delete an image", parameters=[PRODUCT_ID]),
)
class ProductImageViewSet(ProductChildBase, mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = ProductImageSerializer
    parser_classes = [parsers.MultiPartParser, parsers.FormParser]
    http_method_names = ["get", "post", "delete", "head", "options"]

    def get_queryset(self):
        if _fake(self):
            return ProductImage.objects.none()
        return self.get_product().images.order_by("position", "id")

    def create(self, request, *args, **kwargs):
        product = self.get_product()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        image = services.add_product_image(
            product=product, by=request.user, **serializer.validated_data
        )
        return Response(self.get_serializer(image).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, *args, **kwargs):
        services.delete_product_image(image=self.get_object(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- shopping tab and search ---------------------------------------------------------------


class CardList(APIBase, generics.ListAPIView):
    serializer_class = ProductCardSerializer
    filter_backends = [ProductFilterBackend]
    filterset_class = APIProductFilter


@extend_schema(
    summary="A creator's shopping tab",
    parameters=[OpenApiParameter("handle", OpenApiTypes.STR, OpenApiParameter.PATH)],
)
class ShoppingTabView(CardList):
    """Served from the cache behind the shop's version (shops/tab_cache.py): a page is built
    and rendered once per change of its cards, then costs no SQL."""

    found: tab_cache.Found | None = None

    def check_throttles(self, request):
        # With Redis, the throttles count this request in the cache lookup's round trip.
        throttles = self.get_throttles()
        if request.accepted_renderer.format != "json" or not all(
            isinstance(t, _LiveSettings) and tab_cache.shares_redis_with(t.cache) for t in throttles
        ):
            return super().check_throttles(request)
        checks = [(t, t.check_args(request, self)) for t in throttles]
        counted = [(t, args) for t, args in checks if args is not None]
        self.found = tab_cache.lookup(
            handle=self.kwargs["handle"],
            host=request.get_host(),
            path=request.get_full_path(),
            throttles=[args for _, args in counted],
        )
        waits = [t.wait() for (t, _), ms in zip(counted, self.found.waits, strict=True)
                 if not t.checked(ms)]  # fmt: skip
        if waits:
            self.throttled(request, max(waits))

    def list(self, request, *args, **kwargs):
        if request.accepted_renderer.format != "json":  # the browsable API: built each time
            return super().list(request, *args, **kwargs)
        handle = self.kwargs["handle"]
        found = self.found or tab_cache.lookup(
            handle=handle, host=request.get_host(), path=request.get_full_path()
        )
        if found.page is not None:
            return HttpResponse(found.page, content_type="application/json",
                                headers={"Vary": "Accept"})  # fmt: skip
        if found.shop_id is None:
            self.shop = self._shop(handle)
            tab_cache.remember_shop(handle, self.shop.pk)
            found = tab_cache.lookup(
                handle=handle, host=request.get_host(), path=request.get_full_path()
            )
        response = super().list(request, *args, **kwargs)
        page = request.accepted_renderer.render(
            response.data, request.accepted_media_type, self.get_renderer_context()
        )
        tab_cache.put_page(found.key, page)
        return response

    def _shop(self, handle: str) -> Shop:
        shop = selectors.get_shop_for_handle(handle=handle)
        if shop is None or shop.is_suspended:
            raise Http404("This creator has no shop.")
        return shop

    def get_queryset(self):
        if _fake(self):
            return Product.objects.none()
        shop = getattr(self, "shop", None) or self._shop(self.kwargs["handle"])
        return selectors.shopping_tab_for(shop=shop)


@extend_schema(summary="Search products on sale across the site")
class SearchView(CardList):
    filterset_skip = ("q",)  # already applied by the selector

    def get_queryset(self):
        if _fake(self):
            return Product.objects.none()
        products = selectors.search_products(query=self.request.query_params.get("q", ""))
        # Aggregating selectors drop Meta.ordering; pages need a stable order.
        return products if products.ordered else products.order_by("-created_at", "-pk")


# --- routes --------------------------------------------------------------------------------

router = SimpleRouter()
router.register("shops", ShopViewSet, basename="shop")
router.register("products", ProductViewSet, basename="product")
router.register(r"products/(?P<product_pk>\d+)/variants", VariantViewSet, basename="variant")
router.register(r"products/(?P<product_pk>\d+)/images", ProductImageViewSet, basename="image")

urlpatterns = [
    *router.urls,
    path("creators/<str:handle>/shopping-tab/", ShoppingTabView.as_view(), name="shopping-tab"),
    path("search/", SearchView.as_view(), name="search"),
]
