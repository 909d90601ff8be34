"""Creator dashboard pages: the owner's shop, products (variants, images) and shopping tab.

Every page loads its objects through the signed-in user (`shop__owner=request.user`), so
another creator's product is a 404 and nothing changes. Each save runs in one transaction:
when a service refuses any part, the whole page comes back with the errors (400) and
nothing is written.
"""

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.forms import BaseFormSet
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
    image_order,
)
from .models import Product, Shop

VARIANT_FIELD_NAMES = {"price_amount": "price", "compare_at_amount": "compare_at"}
CLASH_MESSAGE = "That clashed with another change saved at the same time; check and save again."


class Refused(Exception):
    """A service refused part of a save; its message is already on the form."""


def add_service_error(target, exc, *, field_names=None, default_field=None) -> None:
    """Show a service's ShopFeedError / ValidationError on a form (its field) or formset."""
    field_names = field_names or {}
    if isinstance(exc, ShopFeedError):
        items = [(exc.field, [exc.message])]
    elif hasattr(exc, "error_dict"):
        items = list(exc.message_dict.items())
    else:
        items = [(None, exc.messages)]
    for field, msgs in items:
        name = field_names.get(field, field)
        if name in (None, NON_FIELD_ERRORS):
            name = default_field
        for msg in msgs:
            if isinstance(target, BaseFormSet):
                target.non_form_errors().append(msg)
            elif name in target.fields:
                target.add_error(name, msg)
            elif name:
                target.add_error(None, f"{name.replace('_', ' ').capitalize()}: {msg}")
            else:
                target.add_error(None, msg)


def attempt(target, service, /, *, field_names=None, default_field=None, **kwargs):
    """Call a service; on refusal put the error on `target` and abort the save."""
    try:
        return service(**kwargs)
    except (ShopFeedError, ValidationError) as exc:
        add_service_error(target, exc, field_names=field_names, default_field=default_field)
        raise Refused from exc


def _submitted(request):
    """Bound data for a POST (even an empty one, which must fail validation), else None."""
    if request.method == "POST":
        return request.POST, request.FILES
    return None, None


def owned_shop(user) -> Shop | None:
    return Shop.objects.filter(owner=user).first()


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
            with transaction.atomic():
                attempt(form, services.open_shop, owner=request.user, **form.shop_fields())
        except Refused:
            pass
        except IntegrityError:
            form.add_error(None, CLASH_MESSAGE)
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
            with transaction.atomic():
                attempt(
                    form, services.update_shop, shop=shop, by=request.user, **form.shop_fields()
                )
        except Refused:
            pass
        except IntegrityError:
            form.add_error(None, CLASH_MESSAGE)
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
            stored: list[str] = []
            try:
                with transaction.atomic():
                    saved = _save_product(
                        request,
                        shop=shop,
                        product=product,
                        form=form,
                        variants=variants,
                        uploads=uploads,
                        images=images,
                        stored=stored,
                    )
            except Refused:
                _discard_files(stored)
            except IntegrityError:
                _discard_files(stored)
                form.add_error(None, CLASH_MESSAGE)
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


def _save_product(request, *, shop, product, form, variants, uploads, images, stored) -> Product:
    """Write the whole page through the services; any refusal raises Refused."""
    user = request.user
    cd = form.cleaned_data
    fields = form.product_fields()
    if cd.get("new_category"):
        fields["category"] = services.get_or_create_category(cd["new_category"])
    else:
        fields["category"] = cd.get("category")
    status = cd["status"]

    if product is None:
        product = attempt(
            form, services.create_product, shop=shop, by=user, tags=cd["tags"], **fields
        )
    else:
        # Leaving "active" happens first (so every variant may go); entering it comes last.
        if status != Product.Status.ACTIVE:
            fields["status"] = status
        product = attempt(
            form, services.update_product, product=product, by=user, tags=cd["tags"], **fields
        )

    _save_variants(user, product=product, variants=variants)

    if product.status != status:
        attempt(form, services.set_product_status, product=product, by=user, status=status)

    if images is not None:
        order = image_order(images)  # before deleting: a deleted row loses its pk
        for image_form in images.deleted_forms:
            if image_form.instance.pk:  # an id outside this product's images matches nothing
                attempt(images, services.delete_product_image, image=image_form.instance, by=user)
        if order is not None:
            attempt(images, services.reorder_images, product=product, by=user, order=order)

    for upload in uploads.cleaned_data["images"]:
        img = attempt(
            uploads,
            services.add_product_image,
            default_field="images",
            product=product,
            by=user,
            image=upload,
            alt_text=uploads.cleaned_data["alt_text"],
        )
        stored.append(img.image.name)
    return product


def _save_variants(user, *, product: Product, variants) -> None:
    deleted = [f for f in variants.deleted_forms if f.instance.pk]
    deleted_ids = {id(f) for f in variants.deleted_forms}
    # An active product may not lose its last variant: when every old one goes, the last
    # one goes after the new ones exist.
    held = None
    if deleted and product.status == Product.Status.ACTIVE:
        remaining = product.variants.exclude(pk__in=[f.instance.pk for f in deleted])
        if not remaining.exists():
            held = deleted.pop()
    for vf in deleted:
        attempt(vf, services.delete_variant, variant=vf.instance, by=user)
    for position, vf in enumerate(variants.forms):
        if id(vf) in deleted_ids or not vf.has_changed():
            continue
        attempt(
            vf,
            services.save_variant,
            field_names=VARIANT_FIELD_NAMES,
            product=product,
            by=user,
            variant=vf.instance if vf.instance.pk else None,
            position=position,
            **vf.variant_fields(),
        )
    if held is not None:
        attempt(held, services.delete_variant, variant=held.instance, by=user)


def _discard_files(names: list[str]) -> None:
    # The rows were rolled back; their files were already in storage.
    for name in names:
        default_storage.delete(name)


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
            with transaction.atomic():
                attempt(
                    formset,
                    services.arrange_tab,
                    shop=shop,
                    by=request.user,
                    order=formset.order(request.POST.get("move", "")),
                    featured=formset.featured(),
                )
        except Refused:
            pass
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
