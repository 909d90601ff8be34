"""Creator dashboard pages: the owner's shop, products (variants, images) and shopping tab.

Every page loads its objects through the signed-in user (`shop__owner=request.user`), so
another creator's product is a 404 and nothing changes. Each save is one service call that
runs in one transaction: when a service refuses any part, the whole page comes back with
the errors (400) and nothing is written.
"""

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db.models import Count
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from shopfeed.accounts.services import become_creator
from shopfeed.errors import ShopFeedError

from . import selectors, services
from .forms import (
    ImageFormSet,
    ImageUploadForm,
    OpenShopForm,
    ProductForm,
    ShopForm,
    TabFormSet,
    VariantFormSet,
    add_service_error,
    image_order,
)
from .models import Product, Shop
from .selectors import owned_shop

VARIANT_FIELD_NAMES = {"price_amount": "price", "compare_at_amount": "compare_at"}
REFUSALS = (ShopFeedError, ValidationError)


def _submitted(request):
    """Bound data for a POST (even an empty one, which must fail validation), else None."""
    if request.method == "POST":
        return request.POST, request.FILES
    return None, None


def shop_required(view):
    """Signed in and owning a shop; otherwise off to the overview, which says what to do."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        shop = owned_shop(request.user)
        if shop is None:
            messages.info(request, "Open your shop first.")
            return redirect("shops:dashboard")
        return view(request, shop, *args, **kwargs)

    return wrapper


def owned_product(request, pk) -> Product:
    return get_object_or_404(
        Product.objects.select_related("shop", "shop__owner"), pk=pk, shop__owner=request.user
    )


# --- overview and shop ---------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def overview(request):
    user = request.user
    if not user.is_creator:
        if request.method == "POST" and "become_creator" in request.POST:
            become_creator(user=user)
            messages.success(request, "You are a creator now. Open your shop below.")
            return redirect("shops:dashboard")
        if request.method == "POST":
            return render(
                request,
                "dashboard/become_creator.html",
                {"error": "Only creator accounts can open a shop. Become a creator first."},
                status=403,
            )
        return render(request, "dashboard/become_creator.html")

    shop = owned_shop(user)
    if request.method == "POST" and "become_creator" in request.POST:
        return redirect("shops:dashboard")  # already a creator
    if shop is None:
        return _open_shop(request)
    if request.method == "POST":
        messages.error(request, "You already have a shop.")
        return redirect("shops:dashboard")
    counts = dict(Product.objects.filter(shop=shop).values_list("status").annotate(n=Count("id")))
    status_counts = [
        (value, label, counts.get(value, 0)) for value, label in Product.Status.choices
    ]
    return render(
        request,
        "dashboard/overview.html",
        {
            "shop": shop,
            "status_counts": status_counts,
            "total": sum(counts.values()),
            "active": "overview",
        },
    )


def _open_shop(request):
    form = OpenShopForm(*_submitted(request), instance=Shop(owner=request.user))
    if request.method == "POST" and form.is_valid():
        try:
            services.open_shop(owner=request.user, **form.shop_fields())
        except REFUSALS as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, "Your shop is open. Add your first product.")
            return redirect("shops:dashboard")
    status = 400 if form.errors else 200
    return render(request, "dashboard/open_shop.html", {"form": form}, status=status)


@shop_required
@require_http_methods(["GET", "POST"])
def shop_edit(request, shop):
    # The form works on its own copy, so the service compares against the stored shop.
    form = ShopForm(*_submitted(request), instance=Shop.objects.get(pk=shop.pk))
    if request.method == "POST" and form.is_valid():
        try:
            services.update_shop(shop=shop, by=request.user, **form.shop_fields())
        except REFUSALS as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, "Shop saved.")
            return redirect("shops:dashboard-shop")
    status = 400 if form.errors else 200
    return render(
        request,
        "dashboard/shop_form.html",
        {"shop": shop, "form": form, "active": "shop"},
        status=status,
    )


# --- products ------------------------------------------------------------------------------


@shop_required
@require_http_methods(["GET"])
def product_list(request, shop):
    products = selectors.owner_products(shop=shop)
    status = request.GET.get("status", "")
    if status in Product.Status.values:
        products = products.filter(status=status)
    else:
        status = ""
    products = list(products)
    for p in products:
        p.cover_url = _cover_url(p)
    return render(
        request,
        "dashboard/product_list.html",
        {
            "shop": shop,
            "products": products,
            "status": status,
            "statuses": Product.Status.choices,
            "active": "products",
        },
    )


@shop_required
@require_http_methods(["GET", "POST"])
def product_create(request, shop):
    return _product_page(request, shop=shop, product=None)


@login_required
@require_http_methods(["GET", "POST"])
def product_edit(request, pk):
    product = owned_product(request, pk)
    return _product_page(request, shop=product.shop, product=product)


@login_required
def product_archive(request, pk):
    product = owned_product(request, pk)  # another creator's product is a 404, GET or POST
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        services.archive_product(product=product, by=request.user)
    except ShopFeedError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"“{product.title}” is archived; shoppers no longer see it.")
    return redirect("shops:dashboard-products")


def _cover_url(product) -> str:
    name = product.cover_thumbnail or product.cover_image
    return default_storage.url(name) if name else (product.cover_source_url or "")


def _product_page(request, *, shop: Shop, product: Product | None):
    post = request.method == "POST"
    data, files = _submitted(request)
    form = ProductForm(data, shop=shop, product=product)
    variants = VariantFormSet(
        data, instance=product or Product(shop=shop), prefix="variants", shop=shop
    )
    uploads = ImageUploadForm(data, files, prefix="upload")
    images = None
    if product is not None and product.images.exists():
        images = ImageFormSet(data, queryset=product.images.all(), prefix="images")

    if post:
        # A list, not a generator: every part is validated so every error is shown at once.
        valid = all(
            [
                form.is_valid(),
                variants.is_valid(),
                uploads.is_valid(),
                images is None or images.is_valid(),
            ]
        )
        if valid:
            try:
                saved = _save_product(request, shop, product, form, variants, uploads, images)
            except services.PartRefused as exc:
                _show_refusal(exc, form=form, variants=variants, uploads=uploads, images=images)
            else:
                messages.success(
                    request, f"“{saved.title}” {'created' if product is None else 'saved'}."
                )
                return redirect("shops:dashboard-product-edit", pk=saved.pk)
        if product is not None:
            product.refresh_from_db()

    has_errors = bool(
        form.errors
        or any(variants.errors)
        or variants.non_form_errors()
        or uploads.errors
        or (images is not None and (any(images.errors) or images.non_form_errors()))
    )
    return render(
        request,
        "dashboard/product_form.html",
        {
            "shop": shop,
            "product": product,
            "form": form,
            "variants": variants,
            "uploads": uploads,
            "images": images,
            "has_errors": has_errors,
            "active": "new" if product is None else "products",
        },
        status=400 if post and has_errors else 200,
    )


def _save_product(request, shop, product, form, variants, uploads, images) -> Product:
    """The valid page handed to the one service that saves it; any refusal is PartRefused."""
    cd = form.cleaned_data
    fields = form.product_fields()
    fields["category"] = cd.get("category")
    deleted = {id(f) for f in variants.deleted_forms}
    edits = [
        services.VariantEdit(key=i, variant=vf.instance, delete=True)
        for i, vf in enumerate(variants.forms)
        if id(vf) in deleted and vf.instance.pk
    ]
    edits += [
        services.VariantEdit(
            key=i,
            variant=vf.instance if vf.instance.pk else None,
            fields=vf.variant_fields(),
            position=i,
        )
        for i, vf in enumerate(variants.forms)
        if id(vf) not in deleted and vf.has_changed()
    ]
    image_changes = {}
    if images is not None:
        image_changes = {
            "image_order": image_order(images),  # before deleting: a deleted row loses its pk
            # An id outside this product's images matches nothing.
            "delete_images": [f.instance for f in images.deleted_forms if f.instance.pk],
        }
    return services.save_product(
        shop=shop,
        product=product,
        by=request.user,
        fields=fields,
        tags=cd["tags"],
        status=cd["status"],
        new_category=cd.get("new_category") or "",
        variant_edits=edits,
        uploads=uploads.cleaned_data["images"],
        alt_text=uploads.cleaned_data["alt_text"],
        **image_changes,
    )


def _show_refusal(exc: services.PartRefused, *, form, variants, uploads, images) -> None:
    """Put a refusal on the part of the page it concerns."""
    if exc.part == "variant":
        add_service_error(variants.forms[exc.key], exc.error, field_names=VARIANT_FIELD_NAMES)
    elif exc.part == "images" and images is not None:
        add_service_error(images, exc.error)
    elif exc.part == "uploads":
        add_service_error(uploads, exc.error, default_field="images")
    else:
        add_service_error(form, exc.error)


# --- shopping tab --------------------------------------------------------------------------


@shop_required
@require_http_methods(["GET", "POST"])
def arrange_tab(request, shop):
    products = list(selectors.owner_products(shop=shop).exclude(status=Product.Status.ARCHIVED))
    by_id = {p.pk: p for p in products}
    initial = [
        {"product": p.pk, "position": i, "featured": p.is_featured}
        for i, p in enumerate(products, start=1)
    ]
    formset = TabFormSet(_submitted(request)[0], initial=initial, prefix="tab")
    if request.method == "POST" and formset.is_valid():
        try:
            services.arrange_tab(
                shop=shop,
                by=request.user,
                order=formset.order(request.POST.get("move", "")),
                featured=formset.featured(),
            )
        except REFUSALS as exc:
            add_service_error(formset, exc)
        else:
            messages.success(request, "Your shopping tab is arranged.")
            return redirect("shops:dashboard-tab")
    rows = []
    for form in formset.forms:
        pk = form["product"].value()
        rows.append((form, by_id.get(int(pk)) if str(pk).isdigit() else None))
    has_errors = bool(any(formset.errors) or formset.non_form_errors())
    return render(
        request,
        "dashboard/tab.html",
        {
            "shop": shop,
            "formset": formset,
            "rows": rows,
            "max_featured": services.MAX_FEATURED,
            "active": "tab",
        },
        status=400 if request.method == "POST" and has_errors else 200,
    )
