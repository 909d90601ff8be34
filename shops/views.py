"""Shopper pages: the landing page, a creator's profile with their shopping tab, product
pages and site-wide search. Grids update in place with htmx and work as plain GET forms."""

import json
from decimal import Decimal

import django_filters
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string
from django.utils.cache import patch_vary_headers
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language

from . import selectors, tab_cache
from .filters import ProductFilter
from .models import Category, Product, ProductImage, Shop
from .money import SYMBOLS, ZERO_DECIMAL, format_money, scale_to_minor

PAGE_SIZE = 24
LOW_STOCK = 5
HOME_SHOPS = 8
HOME_PRODUCTS = 12

User = get_user_model()


# --- filters -------------------------------------------------------------------------------


def _price_q(lookup: str, value: Decimal, *, round_up: bool) -> Q:
    """`value` is in major units; how many minor units that is depends on each shop's currency."""
    zero_decimal = Q(shop__currency__in=ZERO_DECIMAL)
    return (zero_decimal & Q(**{lookup: scale_to_minor(value, exponent=0, round_up=round_up)})) | (
        ~zero_decimal & Q(**{lookup: scale_to_minor(value, exponent=2, round_up=round_up)})
    )


class ShopperProductFilter(ProductFilter):
    """The shared product filter, with prices typed in major units ("12.50") as people do."""

    min_price = django_filters.NumberFilter(
        method="filter_min_price", label="Min price", min_value=0, max_digits=12, decimal_places=2
    )
    max_price = django_filters.NumberFilter(
        method="filter_max_price", label="Max price", min_value=0, max_digits=12, decimal_places=2
    )

    def __init__(self, data=None, queryset=None, *, categories=None, **kwargs):
        super().__init__(data, queryset, **kwargs)
        if categories is not None:
            self.filters["category"].queryset = categories

    def filter_min_price(self, queryset, name, value):
        # A product is in range when some variant costs at least the minimum.
        return queryset.filter(_price_q("max_price_amount__gte", value, round_up=True))

    def filter_max_price(self, queryset, name, value):
        return queryset.filter(_price_q("min_price_amount__lte", value, round_up=False))


class SearchProductFilter(ShopperProductFilter):
    """Search results are newest first by default, so "Newest" is not offered twice."""

    sort = django_filters.ChoiceFilter(
        method="filter_sort",
        label="Sort",
        empty_label="Newest",
        choices=[
            ("price", "Price: low to high"),
            ("-price", "Price: high to low"),
            ("popular", "Popularity"),
        ],
    )


def _categories_in_use(products: QuerySet[Product]) -> QuerySet[Category]:
    return Category.objects.filter(Exists(products.filter(category=OuterRef("pk"))))


# --- helpers -------------------------------------------------------------------------------


def _media_url(field: str, name: str) -> str:
    return ProductImage._meta.get_field(field).storage.url(name)


def _cover_url(product: Product) -> str:
    """The selector annotates raw storage names; turn the best one into a URL."""
    if product.cover_thumbnail:
        return _media_url("thumbnail", product.cover_thumbnail)
    if product.cover_image:
        return _media_url("image", product.cover_image)
    return product.cover_source_url or ""


def _with_cover_urls(products) -> list[Product]:
    products = list(products)
    for product in products:
        product.cover_url = _cover_url(product)
    return products


def _paginate(request, queryset: QuerySet[Product]):
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = _with_cover_urls(page.object_list)
    return page


def _with_tiebreak(queryset: QuerySet[Product]) -> QuerySet[Product]:
    # Equal sort keys must not let a product slip between pages.
    return queryset.order_by(*queryset.query.order_by, "-pk")


def _wants_partial(request) -> bool:
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.history_restore_request


def _render_grid_page(request, template: str, context: dict):
    """The full page, or only the product grid when htmx asks for it."""
    partial = _wants_partial(request)
    response = render(request, "shops/_product_grid.html" if partial else template, context)
    patch_vary_headers(response, ("HX-Request",))
    return response


def availability(quantity: int) -> tuple[str, str]:
    """What a shopper reads about a variant's stock, and the badge style for it."""
    if quantity <= 0:
        return "Sold out", "out"
    if quantity <= LOW_STOCK:
        return f"Only {quantity} left", "warn"
    return "In stock", "ok"


# --- pages ---------------------------------------------------------------------------------


def home(request):
    shops = (
        Shop.objects.filter(status=Shop.Status.ACTIVE)
        .filter(Exists(Product.objects.filter(shop=OuterRef("pk"), status=Product.Status.ACTIVE)))
        .select_related("owner")
        .order_by("-created_at", "-pk")[:HOME_SHOPS]
    )
    products = selectors.with_compare_at(selectors.visible_products()).order_by(
        "-created_at", "-pk"
    )[:HOME_PRODUCTS]
    return render(
        request,
        "shops/home.html",
        {"shops": shops, "products": _with_cover_urls(products)},
    )


def search(request):
    products = selectors.with_compare_at(selectors.visible_products()).order_by(
        "-created_at", "-pk"
    )
    filterset = SearchProductFilter(
        request.GET or None,
        queryset=products,
        categories=_categories_in_use(
            Product.objects.filter(status=Product.Status.ACTIVE, shop__status=Shop.Status.ACTIVE)
        ),
    )
    context = {
        "filter": filterset,
        "page_obj": _paginate(request, filterset.qs),
        "query": request.GET.get("q", "").strip(),
        "show_shop": True,
        "price_unit": "",
    }
    return _render_grid_page(request, "shops/search.html", context)


def _tab_key_parts(request, *, partial: bool) -> tuple[str, ...]:
    lang = get_language() or ""
    return (lang, request.path, request.GET.urlencode(), "grid" if partial else "page")


def _shop_tab_html(request, shop: Shop, *, key: str | None, partial: bool) -> SafeString:
    """The shopping tab's filters and grid, rendered and stored under `key` (the shop's version,
    language and query: the same for everyone who asks so). Nothing per user is in it (no CSRF
    token: the filter is a GET form). `key` None: the cache does not know the shop yet."""
    filterset = ShopperProductFilter(
        request.GET or None,
        queryset=_with_tiebreak(selectors.with_compare_at(selectors.shopping_tab_for(shop=shop))),
        categories=_categories_in_use(
            Product.objects.filter(shop=shop, status=Product.Status.ACTIVE)
        ),
    )
    context = {
        "profile_user": True,  # cards link with ?from=tab
        "shop": shop,
        "filter": filterset,
        "page_obj": _paginate(request, filterset.qs),
        "price_unit": SYMBOLS.get(shop.currency, shop.currency),
    }
    template = "shops/_product_grid.html" if partial else "shops/_shop_tab_body.html"
    html = render_to_string(template, context, request=request)
    if key is not None:
        tab_cache.put_fragment(key, html.encode())
    return mark_safe(html)  # noqa: S308 (our own rendered template)


def _profile_response(request, page: dict, tab_html: SafeString, *, partial: bool):
    if partial:
        response = HttpResponse(tab_html)
    else:
        context = {
            "page": {**page, "head": mark_safe(page["head"])},  # noqa: S308
            "is_owner": request.user.is_authenticated and request.user.pk == page["user_id"],
            "tab_html": tab_html,
        }
        response = render(request, "shops/profile_cached.html", context)
    patch_vary_headers(response, ("HX-Request",))
    return response


def profile(request, handle):
    """An open shop's profile is served from cached parts: the head (name, bio, followers, live
    sessions; kept PROFILE_HEAD_SECONDS and dropped by any write to the shop's cards) and the
    tab (dropped by those writes). Profiles without an open shop are rendered each time."""
    partial = _wants_partial(request)
    got = tab_cache.fragments(
        handle,
        {
            "profile-head": ((get_language() or "", handle.lower()), True),
            "profile-tab": (_tab_key_parts(request, partial=partial), False),
        },
    )
    head, tab = got.found.get("profile-head"), got.found.get("profile-tab")
    if head is not None and tab is not None:
        return _profile_response(
            request,
            json.loads(head),
            mark_safe(tab.decode()),  # noqa: S308 (our own rendered template)
            partial=partial,
        )
    profile_user = get_object_or_404(
        User.objects.select_related("shop").annotate(
            follower_count=Count("followers", distinct=True)
        ),
        handle__iexact=handle,
    )
    shop = getattr(profile_user, "shop", None)
    if shop is not None and not shop.is_suspended:
        # The versions were read before the rows: a write in between moved them, so nothing
        # stored here is newer than the key it goes under says.
        known = got.shop_id == shop.pk
        if not known:
            tab_cache.remember_shop(handle, shop.pk)
        page = {
            "title": f"{profile_user.name} (@{profile_user.handle})",
            "head": render_to_string(
                "shops/_profile_head.html", {"profile_user": profile_user}, request=request
            ),
            "user_id": profile_user.pk,
            "shop_name": shop.name,
            "shop_description": shop.description,
        }
        if known and head is None:
            tab_cache.put_fragment(
                got.keys["profile-head"],
                json.dumps(page).encode(),
                ttl=settings.PROFILE_HEAD_SECONDS,
            )
        if tab is not None:
            tab_html = mark_safe(tab.decode())  # noqa: S308
        else:
            key = got.keys["profile-tab"] if known else None
            tab_html = _shop_tab_html(request, shop, key=key, partial=partial)
        return _profile_response(request, page, tab_html, partial=partial)
    context = {
        "profile_user": profile_user,
        "shop": shop,
        "is_owner": request.user.is_authenticated and request.user.pk == profile_user.pk,
        "shop_unavailable": shop is not None and shop.is_suspended,
    }
    if partial:
        # The shop went away while the page was open: the grid says so.
        return _render_grid_page(request, "shops/profile.html", context)
    return render(request, "shops/profile.html", context)


def _product_page_parts(request, handle: str, product: str) -> dict:
    """Everything of a product page that is the same for every shopper, rendered; from the cache
    behind the shop's version (any write to the product, its variants, stock, images or the
    shop moves it), else built and stored. Raises Http404 for a product shoppers cannot see."""
    got = tab_cache.fragments(handle, {"product": ((get_language() or "", product), False)})
    shop_id, key = got.shop_id, got.keys.get("product")
    cached = got.found.get("product")
    if cached is not None:
        return json.loads(cached)
    try:
        item = selectors.get_visible_product(owner_handle=handle, handle=product)
    except Product.DoesNotExist:
        raise Http404("This product is not available.") from None
    if shop_id != item.shop_id:
        # First visit to this creator since the cache forgot them (or the handle moved).
        tab_cache.remember_shop(handle, item.shop_id)
    # The version is read before the rows were (above, or here on a first visit): a write in
    # between moves it, so what is stored under it is never newer than it says.
    key = key if shop_id == item.shop_id else None
    parts = _render_product_parts(request, item)
    if key is not None:
        tab_cache.put_fragment(key, json.dumps(parts).encode())
    return parts


def _render_product_parts(request, item: Product) -> dict:
    variants = list(item.variants.all())
    images = [
        {
            "full": (img.image.url if img.image else img.source_url),
            "thumb": img.display_url,
            "alt": img.alt_text or item.title,
        }
        for img in item.images.all()
    ]
    variant_data = []
    for variant in variants:
        text, badge = availability(variant.quantity)
        variant.availability, variant.availability_badge = text, badge
        variant_data.append(
            {
                "id": variant.pk,
                "label": variant.label,
                "price": format_money(variant.price_amount, variant.currency),
                "compare_at": format_money(variant.compare_at_amount, variant.currency),
                "availability": text,
                "badge": badge,
            }
        )
    selected = next((v for v in variants if v.in_stock), variants[0] if variants else None)
    context = {
        "product": item,
        "shop": item.shop,
        "creator": item.shop.owner,
        "variants": variants,
        "selected": selected,
        "images": images,
        "tags": list(item.tags.all()),
    }
    return {
        "title": f"{item.title} · {item.shop.name}",
        "top": render_to_string("shops/_product_top.html", context, request=request),
        "bottom": render_to_string("shops/_product_bottom.html", context, request=request),
        "variant_data": variant_data,
        "selected_id": selected.pk if selected else None,
        "selected_in_stock": bool(selected and selected.in_stock),
        "owner_id": item.shop.owner_id,
    }


def product_detail(request, handle, product):
    parts = _product_page_parts(request, handle, product)
    page = {**parts, "top": mark_safe(parts["top"]), "bottom": mark_safe(parts["bottom"])}  # noqa: S308
    return render(request, "shops/product_detail.html", {"page": page})
