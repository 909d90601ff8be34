"""API serializers: they parse and validate input and render rows. They never save: the API
views hand `validated_data` to shops.services, which own every write."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from shopfeed.serializers import StrictJSONTypes

from .images import validate_image_file
from .models import Category, Product, ProductImage, Shop
from .services import MAX_FLASH_LIMIT, MAX_POSITION, VariantInput

# Largest amount/quantity PostgreSQL's integer column holds; above it the insert would fail.
MAX_INT = 2_147_483_647
LOW_STOCK = 5


class StockState:
    SOLD_OUT = "sold_out"
    LOW_STOCK = "low_stock"
    IN_STOCK = "in_stock"
    CHOICES = [SOLD_OUT, LOW_STOCK, IN_STOCK]


def stock_state(stock: int | None) -> str:
    stock = stock or 0
    if stock <= 0:
        return StockState.SOLD_OUT
    return StockState.LOW_STOCK if stock <= LOW_STOCK else StockState.IN_STOCK


def _absolute(request, url: str | None) -> str | None:
    if not url:
        return None
    return request.build_absolute_uri(url) if request is not None else url


def _storage_url(field_name: str, name: str | None) -> str | None:
    """URL of a stored file name taken from an annotation (no model instance, no query)."""
    if not name:
        return None
    return ProductImage._meta.get_field(field_name).storage.url(name)


class ReadOnlyWrites(StrictJSONTypes):
    """Guard: writes go through shops.services, never serializer.save(). JSON input must
    carry the documented types (shopfeed.serializers)."""

    def create(self, validated_data):
        raise NotImplementedError("Call a shops.services function instead.")

    def update(self, instance, validated_data):
        raise NotImplementedError("Call a shops.services function instead.")


# --- shops ---------------------------------------------------------------------------------


class ShopSerializer(ReadOnlyWrites, serializers.Serializer):
    optional_in_response = ("suspended_reason",)  # shown to the owner only (shopfeed.schema)

    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(max_length=80)
    slug = serializers.SlugField(
        max_length=80, required=False, help_text="URL name; made from the name when omitted."
    )
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    logo = serializers.FileField(
        write_only=True, required=False, help_text="JPEG, PNG, WebP or GIF image."
    )
    logo_url = serializers.SerializerMethodField()
    currency = serializers.RegexField(
        r"^[A-Z]{3}$",
        required=False,
        error_messages={"invalid": "Use a three-letter ISO currency code, like USD."},
    )
    owner_handle = serializers.CharField(source="owner.handle", read_only=True)
    profile_url = serializers.SerializerMethodField()
    status = serializers.ChoiceField(choices=Shop.Status.choices, read_only=True)
    suspended_reason = serializers.CharField(
        read_only=True, help_text="Why staff suspended the shop; shown to its owner only."
    )
    created_at = serializers.DateTimeField(read_only=True)

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_logo_url(self, shop) -> str | None:
        return _absolute(self.context.get("request"), shop.logo.url if shop.logo else None)

    @extend_schema_field(OpenApiTypes.STR)
    def get_profile_url(self, shop) -> str:
        return reverse("shops:profile", kwargs={"handle": shop.owner.handle})

    def validate_logo(self, value):
        try:
            validate_image_file(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages, code=exc.code) from None
        return value

    def to_representation(self, shop):
        data = super().to_representation(shop)
        request = self.context.get("request")
        user = getattr(request, "user", None)
        if not (user and user.is_authenticated and shop.owner_id == user.pk):
            data.pop("suspended_reason", None)
        return data


# --- variants and images -------------------------------------------------------------------


class VariantSerializer(ReadOnlyWrites, serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    sku = serializers.CharField(max_length=64, required=False, allow_blank=True)
    option1 = serializers.CharField(max_length=100, required=False, allow_blank=True)
    option2 = serializers.CharField(max_length=100, required=False, allow_blank=True)
    option3 = serializers.CharField(max_length=100, required=False, allow_blank=True)
    price_amount = serializers.IntegerField(
        min_value=1, max_value=MAX_INT, help_text="Price in minor units (cents)."
    )
    compare_at_amount = serializers.IntegerField(
        min_value=1,
        max_value=MAX_INT,
        required=False,
        allow_null=True,
        help_text="Original price in minor units, higher than the price; null for none.",
    )
    currency = serializers.CharField(read_only=True)
    quantity = serializers.IntegerField(
        min_value=0, max_value=MAX_INT, required=False, help_text="Units in stock."
    )
    position = serializers.IntegerField(min_value=0, max_value=MAX_POSITION, required=False)
    in_stock = serializers.BooleanField(read_only=True)
    flash_sale = serializers.BooleanField(
        required=False,
        help_text="A hot drop: units are reserved at once and orders written in batches.",
    )
    flash_limit_per_buyer = serializers.IntegerField(
        min_value=1,
        max_value=MAX_FLASH_LIMIT,
        required=False,
        allow_null=True,
        help_text="Flash sale: most units one buyer may hold; null for the site's default.",
    )

    def validate(self, attrs):
        instance = self.instance
        price = attrs.get("price_amount", getattr(instance, "price_amount", None))
        if "compare_at_amount" in attrs:
            compare_at = attrs["compare_at_amount"]
        else:
            compare_at = getattr(instance, "compare_at_amount", None)
        if compare_at is not None and price is not None and compare_at <= price:
            raise serializers.ValidationError(
                {"compare_at_amount": "The compare-at price must be higher than the price."},
                code="compare_at_not_above_price",
            )
        return attrs


class ProductImageSerializer(ReadOnlyWrites, serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    image = serializers.FileField(
        write_only=True, help_text="JPEG, PNG, WebP or GIF; size and pixel count are limited."
    )
    url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField(
        help_text="Null until the thumbnail has been made (a background task)."
    )
    alt_text = serializers.CharField(max_length=200, required=False, allow_blank=True)
    position = serializers.IntegerField(min_value=0, max_value=MAX_POSITION, required=False)

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_url(self, img) -> str | None:
        url = img.image.url if img.image else img.source_url
        return _absolute(self.context.get("request"), url)

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_thumbnail_url(self, img) -> str | None:
        return _absolute(self.context.get("request"), img.thumbnail.url if img.thumbnail else None)

    def validate_image(self, value):
        try:
            validate_image_file(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages, code=exc.code) from None
        return value


# --- products ------------------------------------------------------------------------------


class TagListField(serializers.ListField):
    child = serializers.CharField(max_length=60)

    def to_representation(self, value):
        # `value` is the prefetched tags manager.
        return [tag.name for tag in value.all()]


@extend_schema_field({"type": "string", "nullable": True})
class CategorySlugField(serializers.SlugRelatedField):
    """DRF reads "" as null for a relation: the schema allows it (no minimum length)."""


class ProductSerializer(ReadOnlyWrites, serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    shop = serializers.SlugField(source="shop.slug", read_only=True)
    creator_handle = serializers.CharField(source="shop.owner.handle", read_only=True)
    url = serializers.CharField(
        source="get_absolute_url", read_only=True, help_text="Path of the product page."
    )
    title = serializers.CharField(max_length=255)
    handle = serializers.SlugField(
        max_length=255,
        required=False,
        help_text="URL name, unique within the shop; made from the title when omitted.",
    )
    description = serializers.CharField(required=False, allow_blank=True)
    vendor = serializers.CharField(max_length=120, required=False, allow_blank=True)
    product_type = serializers.CharField(max_length=120, required=False, allow_blank=True)
    category = CategorySlugField(
        slug_field="slug",
        queryset=Category.objects.all(),
        required=False,
        allow_null=True,
        help_text="Category slug.",
        error_messages={"does_not_exist": "There is no category with the slug “{value}”."},
    )
    tags = TagListField(required=False, max_length=30, help_text="Tag names.")
    status = serializers.ChoiceField(
        choices=Product.Status.choices,
        required=False,
        help_text="Publishing (active) needs at least one variant.",
    )
    option1_name = serializers.CharField(max_length=60, required=False, allow_blank=True)
    option2_name = serializers.CharField(max_length=60, required=False, allow_blank=True)
    option3_name = serializers.CharField(max_length=60, required=False, allow_blank=True)
    is_featured = serializers.BooleanField(read_only=True)
    min_price_amount = serializers.SerializerMethodField()
    max_price_amount = serializers.SerializerMethodField()
    currency = serializers.CharField(source="shop.currency", read_only=True)
    in_stock = serializers.SerializerMethodField()
    stock_state = serializers.SerializerMethodField()
    variants = VariantSerializer(
        many=True,
        required=False,
        max_length=100,
        help_text="On create only; later use the product's variants endpoint.",
    )
    images = ProductImageSerializer(many=True, read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    # Derived from the prefetched variants, so list and detail need no annotation.
    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_min_price_amount(self, product) -> int | None:
        prices = [v.price_amount for v in product.variants.all()]
        return min(prices) if prices else None

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_max_price_amount(self, product) -> int | None:
        prices = [v.price_amount for v in product.variants.all()]
        return max(prices) if prices else None

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_in_stock(self, product) -> bool:
        return any(v.quantity > 0 for v in product.variants.all())

    @extend_schema_field(serializers.ChoiceField(choices=StockState.CHOICES))
    def get_stock_state(self, product) -> str:
        return stock_state(sum(v.quantity for v in product.variants.all()))

    def validate_handle(self, value):
        shop = self.instance.shop if self.instance else self.context.get("shop")
        if shop is not None:
            taken = Product.objects.filter(shop=shop, handle=value)
            if self.instance is not None:
                taken = taken.exclude(pk=self.instance.pk)
            if taken.exists():
                raise serializers.ValidationError(
                    "You already have a product with this handle.", code="duplicate_handle"
                )
        return value

    def validate_variants(self, value):
        if self.instance is not None:
            raise serializers.ValidationError(
                "Change variants through the product's variants endpoint.", code="read_only"
            )
        skus = [v["sku"].strip() for v in value if v.get("sku", "").strip()]
        if len(skus) != len(set(skus)):
            raise serializers.ValidationError(
                "Two variants have the same SKU.", code="duplicate_variant"
            )
        return [VariantInput(**v) for v in value]


class ProductCardSerializer(serializers.Serializer):
    """A shopping-tab / search card: read from the selector's annotations only (no query)."""

    id = serializers.IntegerField(read_only=True)
    title = serializers.CharField(read_only=True)
    handle = serializers.SlugField(read_only=True)
    url = serializers.CharField(
        source="get_absolute_url", read_only=True, help_text="Path of the product page."
    )
    shop = serializers.SlugField(source="shop.slug", read_only=True)
    creator_handle = serializers.CharField(source="shop.owner.handle", read_only=True)
    min_price_amount = serializers.IntegerField(read_only=True, allow_null=True)
    max_price_amount = serializers.IntegerField(read_only=True, allow_null=True)
    currency = serializers.CharField(source="shop.currency", read_only=True)
    in_stock = serializers.BooleanField(read_only=True)
    stock_state = serializers.SerializerMethodField()
    is_featured = serializers.BooleanField(read_only=True)
    thumbnail_url = serializers.SerializerMethodField(
        help_text="Cover picture: its thumbnail once made, else the original; null without one."
    )
    category = serializers.SlugField(source="category.slug", read_only=True, allow_null=True)

    @extend_schema_field(serializers.ChoiceField(choices=StockState.CHOICES))
    def get_stock_state(self, product) -> str:
        return stock_state(product.stock)

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_thumbnail_url(self, product) -> str | None:
        url = (
            _storage_url("thumbnail", product.cover_thumbnail)
            or _storage_url("image", product.cover_image)
            or product.cover_source_url
        )
        return _absolute(self.context.get("request"), url)
