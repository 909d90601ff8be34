"""Reads shared by pages and the API; their joins are decided here, once."""

from django.db.models import Exists, Max, Min, OuterRef, Prefetch, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce

from .models import Product, ProductImage, Shop, Variant


def _cover(field: str):
    return Subquery(
        ProductImage.objects.filter(product=OuterRef("pk"))
        .order_by("position", "id")
        .values(field)[:1]
    )


def _variants():
    return Variant.objects.filter(product=OuterRef("pk"))


def product_cards() -> QuerySet[Product]:
    """Products with what a card shows: price range, stock, cover image: one query.

    Correlated subqueries rather than a join + GROUP BY, so that a page's COUNT(*) drops every
    annotation it does not filter on (`make bench` compares the tab with a bare list).
    """
    return Product.objects.select_related("shop", "shop__owner", "category").annotate(
        min_price_amount=Subquery(_variants().order_by("price_amount").values("price_amount")[:1]),
        max_price_amount=Subquery(_variants().order_by("-price_amount").values("price_amount")[:1]),
        stock=Coalesce(
            Subquery(
                _variants().values("product").annotate(total=Sum("quantity")).values("total")[:1]
            ),
            0,
        ),
        in_stock=Exists(_variants().filter(quantity__gt=0)),
        cover_image=_cover("image"),
        cover_thumbnail=_cover("thumbnail"),
        cover_source_url=_cover("source_url"),
    )


def visible_products() -> QuerySet[Product]:
    """What shoppers may see: active products of active shops."""
    return product_cards().filter(status=Product.Status.ACTIVE, shop__status=Shop.Status.ACTIVE)


def shopping_tab_for(*, shop: Shop) -> QuerySet[Product]:
    return (
        visible_products().filter(shop=shop).order_by("-is_featured", "tab_position", "-created_at")
    )


def search_products(*, query: str = "") -> QuerySet[Product]:
    return apply_search(visible_products(), query)


def apply_search(qs: QuerySet[Product], query: str) -> QuerySet[Product]:
    """Every word must match the title, description, vendor, type, shop name or a tag."""
    for word in query.split()[:8]:
        qs = qs.filter(
            Q(title__icontains=word)
            | Q(description__icontains=word)
            | Q(vendor__icontains=word)
            | Q(product_type__icontains=word)
            | Q(shop__name__icontains=word)
            | Exists(
                Product.tags.through.objects.filter(product=OuterRef("pk"), tag__name__iexact=word)
            )
        )
    return qs


def product_detail_queryset() -> QuerySet[Product]:
    return (
        Product.objects.select_related("shop", "shop__owner", "category")
        .prefetch_related(
            Prefetch("variants", queryset=Variant.objects.order_by("position", "id")),
            Prefetch("images", queryset=ProductImage.objects.order_by("position", "id")),
            "tags",
        )
        .annotate(
            min_price_amount=Min("variants__price_amount"),
            max_price_amount=Max("variants__price_amount"),
        )
    )


def get_visible_product(*, owner_handle: str, handle: str) -> Product:
    return product_detail_queryset().get(
        shop__owner__handle__iexact=owner_handle,
        handle=handle,
        status=Product.Status.ACTIVE,
        shop__status=Shop.Status.ACTIVE,
    )


def owner_products(*, shop: Shop) -> QuerySet[Product]:
    """A creator's own products, every status, for the dashboard."""
    return product_cards().filter(shop=shop).order_by("-is_featured", "tab_position", "-created_at")


def owned_shop(user) -> Shop | None:
    """The signed-in user's own shop, if they have opened one."""
    return Shop.objects.filter(owner=user).first()


def get_shop_for_handle(*, handle: str) -> Shop | None:
    return Shop.objects.select_related("owner").filter(owner__handle__iexact=handle).first()


def with_compare_at(qs: QuerySet[Product]) -> QuerySet[Product]:
    """Cards: add `compare_at_amount`, the struck-through price of the cheapest variant."""
    return qs.annotate(
        compare_at_amount=Subquery(
            Variant.objects.filter(product=OuterRef("pk"))
            .order_by("price_amount", "position", "id")
            .values("compare_at_amount")[:1]
        )
    )


def with_product_details(qs: QuerySet[Product]) -> QuerySet[Product]:
    """API product list: each product with its variants, images and tags (three queries)."""
    return qs.prefetch_related(
        Prefetch("variants", queryset=Variant.objects.order_by("position", "id")),
        Prefetch("images", queryset=ProductImage.objects.order_by("position", "id")),
        "tags",
    )
