"""Every write to shops, products, variants and images goes through here."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from shopfeed.errors import Conflict, NotAllowed, ShopFeedError

from . import tab_cache
from .images import render_thumbnail, validate_image_file
from .models import Category, Product, ProductImage, Shop, Tag, Variant
from .signals import flash_stock_set

MAX_FEATURED = 6
CLASH_MESSAGE = "That clashed with another change saved at the same time; check and save again."
# Positions order a handful of variants or images; typed ones are refused above this at the
# edge (serializers, CSV) and computed ones stop here, so no position nears the column's limit.
MAX_POSITION = 10_000
# Flash sale: the most units one buyer may hold (the column is a PostgreSQL smallint).
MAX_FLASH_LIMIT = 32_767
SHOP_FIELDS = ("name", "slug", "description", "logo", "currency")
PRODUCT_FIELDS = (
    "title",
    "handle",
    "description",
    "vendor",
    "product_type",
    "category",
    "option1_name",
    "option2_name",
    "option3_name",
)
VARIANT_FIELDS = (
    "sku",
    "option1",
    "option2",
    "option3",
    "price_amount",
    "compare_at_amount",
    "quantity",
    "position",
    "flash_sale",
    "flash_limit_per_buyer",
)


@dataclass(frozen=True)
class VariantInput:
    price_amount: int
    quantity: int = 0
    sku: str = ""
    option1: str = ""
    option2: str = ""
    option3: str = ""
    compare_at_amount: int | None = None
    position: int = 0
    flash_sale: bool = False
    flash_limit_per_buyer: int | None = None


def _bounded_position(position: int) -> int:
    return min(max(position, 0), MAX_POSITION)


def _next_position(related) -> int:
    last = related.order_by("-position").values_list("position", flat=True).first()
    return 0 if last is None else _bounded_position(last + 1)


# --- permissions -------------------------------------------------------------------------


def ensure_owner(*, shop: Shop, user) -> None:
    if not getattr(user, "is_authenticated", False) or shop.owner_id != user.pk:
        raise NotAllowed("Only the shop's owner can change it.")


def _full_clean(obj, *, exclude: Iterable[str] = ()) -> None:
    # Model validation before the write, so bad input is a 4xx and writes nothing.
    obj.full_clean(exclude=list(exclude), validate_constraints=True)


# --- shops ---------------------------------------------------------------------------------


def _unique_slug(base: str, *, model, field: str = "slug", **scope) -> str:
    base = slugify(base)[:70] or "item"
    slug, n = base, 2
    while model.objects.filter(**{field: slug}, **scope).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


@transaction.atomic
def open_shop(
    *, owner, name: str, slug: str = "", description: str = "", logo=None, currency: str = ""
) -> Shop:
    if not owner.is_creator:
        raise NotAllowed("Only creator accounts can open a shop.", code="not_a_creator")
    if Shop.objects.filter(owner=owner).exists():
        raise Conflict("You already have a shop.", code="shop_exists")
    shop = Shop(
        owner=owner,
        name=name,
        slug=slug or _unique_slug(name, model=Shop),
        description=description,
        currency=currency or settings.DEFAULT_CURRENCY,
    )
    if logo:
        shop.logo = logo
    _full_clean(shop)
    _save_shop(shop)
    return shop


def _save_shop(shop: Shop) -> None:
    """Save; a clash with a change made at the same moment (the same slug) is a Conflict,
    and a logo file stored for the failed row is removed again."""
    # Saving stores a new logo under its upload_to path, so the name changes.
    stored_before = shop.logo.name
    try:
        with transaction.atomic():
            shop.save()
    except IntegrityError as exc:
        if shop.logo.name and shop.logo.name != stored_before:
            shop.logo.storage.delete(shop.logo.name)
        raise Conflict(CLASH_MESSAGE, code="clash") from exc


@transaction.atomic
def update_shop(*, shop: Shop, by, **fields) -> Shop:
    ensure_owner(shop=shop, user=by)
    unknown = set(fields) - set(SHOP_FIELDS)
    if unknown:
        raise ShopFeedError(f"Unknown shop fields: {', '.join(sorted(unknown))}.")
    if "currency" in fields and fields["currency"] != shop.currency and shop.variants.exists():
        raise ShopFeedError(
            "The currency cannot change once the shop has products.", field="currency"
        )
    for name, value in fields.items():
        setattr(shop, name, value)
    _full_clean(shop, exclude=["owner"])
    _save_shop(shop)
    return shop


@transaction.atomic
def suspend_shop(*, shop: Shop, reason: str, by) -> Shop:
    if not getattr(by, "is_staff", False):
        raise NotAllowed("Only staff can suspend a shop.")
    reason = (reason or "").strip()
    if not reason:
        raise ShopFeedError("Say why the shop is suspended.", field="reason")
    shop = Shop.objects.select_for_update().get(pk=shop.pk)
    shop.status = Shop.Status.SUSPENDED
    shop.suspended_reason = reason
    shop.suspended_at = timezone.now()
    shop.save(update_fields=["status", "suspended_reason", "suspended_at", "updated_at"])
    return shop


@transaction.atomic
def reinstate_shop(*, shop: Shop, by) -> Shop:
    if not getattr(by, "is_staff", False):
        raise NotAllowed("Only staff can reinstate a shop.")
    shop = Shop.objects.select_for_update().get(pk=shop.pk)
    shop.status = Shop.Status.ACTIVE
    shop.suspended_reason = ""
    shop.suspended_at = None
    shop.save(update_fields=["status", "suspended_reason", "suspended_at", "updated_at"])
    return shop


# --- products ------------------------------------------------------------------------------


def get_or_create_category(name: str) -> Category | None:
    name = (name or "").strip()
    if not name:
        return None
    category = Category.objects.filter(name__iexact=name).first()
    if category is None:
        category = Category.objects.create(name=name, slug=_unique_slug(name, model=Category))
    return category


def set_tags(*, product: Product, names: Iterable[str]) -> None:
    clean: list[str] = []
    for raw in names:
        name = raw.strip()[:60]
        if name and name.lower() not in {c.lower() for c in clean}:
            clean.append(name)
    tags = []
    for name in clean:
        tag = Tag.objects.filter(name__iexact=name).first() or Tag.objects.create(name=name)
        tags.append(tag)
    product.tags.set(tags)


@transaction.atomic
def create_product(
    *,
    shop: Shop,
    by,
    title: str,
    variants: Sequence[VariantInput] = (),
    status: str = Product.Status.DRAFT,
    tags: Iterable[str] = (),
    **fields,
) -> Product:
    ensure_owner(shop=shop, user=by)
    unknown = set(fields) - set(PRODUCT_FIELDS)
    if unknown:
        raise ShopFeedError(f"Unknown product fields: {', '.join(sorted(unknown))}.")
    if not fields.get("handle"):
        fields["handle"] = _unique_slug(title, model=Product, field="handle", shop=shop)
    product = Product(shop=shop, title=title, status=Product.Status.DRAFT, **fields)
    last = shop.products.order_by("-tab_position").values_list("tab_position", flat=True).first()
    product.tab_position = (last or 0) + 1
    _full_clean(product)
    product.save()
    set_tags(product=product, names=tags)
    for position, data in enumerate(variants):
        save_variant(
            product=product, by=by, position=data.position or position, **_variant_kwargs(data)
        )
    if status != Product.Status.DRAFT:
        set_product_status(product=product, by=by, status=status)
    return product


def _variant_kwargs(data: VariantInput) -> dict:
    return {f: getattr(data, f) for f in VARIANT_FIELDS if f != "position"}


@transaction.atomic
def update_product(*, product: Product, by, tags: Iterable[str] | None = None, **fields) -> Product:
    ensure_owner(shop=product.shop, user=by)
    status = fields.pop("status", None)
    unknown = set(fields) - set(PRODUCT_FIELDS)
    if unknown:
        raise ShopFeedError(f"Unknown product fields: {', '.join(sorted(unknown))}.")
    for name, value in fields.items():
        setattr(product, name, value)
    _full_clean(product, exclude=["shop"])
    try:
        with transaction.atomic():
            product.save()
    except IntegrityError as exc:  # a concurrent request took the handle after full_clean
        raise ShopFeedError(
            "Another product of your shop already uses this handle.", field="handle"
        ) from exc
    if tags is not None:
        set_tags(product=product, names=tags)
    if status is not None and status != product.status:
        set_product_status(product=product, by=by, status=status)
    return product


@transaction.atomic
def set_product_status(*, product: Product, by, status: str) -> Product:
    ensure_owner(shop=product.shop, user=by)
    if status not in Product.Status.values:
        raise ShopFeedError(f"Unknown status {status!r}.", field="status")
    if status == Product.Status.ACTIVE and not product.variants.exists():
        raise ShopFeedError(
            "Add at least one variant with a price before publishing.",
            code="no_variants",
            field="status",
        )
    product.status = status
    product.save(update_fields=["status", "updated_at"])
    return product


def archive_product(*, product: Product, by) -> Product:
    return set_product_status(product=product, by=by, status=Product.Status.ARCHIVED)


@transaction.atomic
def save_variant(*, product: Product, by, variant: Variant | None = None, **fields) -> Variant:
    """Create a variant of `product`, or update `variant` with `fields`."""
    ensure_owner(shop=product.shop, user=by)
    unknown = set(fields) - set(VARIANT_FIELDS)
    if unknown:
        raise ShopFeedError(f"Unknown variant fields: {', '.join(sorted(unknown))}.")
    if variant is None:
        variant = Variant(product=product)
    elif variant.product_id != product.pk:
        raise NotAllowed("That variant belongs to another product.")
    before = (variant.flash_sale, variant.quantity) if variant.pk else (False, None)
    variant.shop_id = product.shop_id
    variant.currency = product.shop.currency
    for name, value in fields.items():
        if name in ("sku", "option1", "option2", "option3"):
            value = (value or "").strip()
        elif name == "position" and value is not None:
            value = _bounded_position(value)
        setattr(variant, name, value)
    _check_compare_at(variant)
    _full_clean(variant, exclude=["product", "shop"])
    try:
        with transaction.atomic():
            variant.save()
    except IntegrityError as exc:
        raise ShopFeedError(
            "A variant with this SKU or these options already exists.", code="duplicate_variant"
        ) from exc
    if variant.flash_sale and before != (True, variant.quantity):
        # Switched on, or its stock set by hand: the flash counts are read afresh (orders).
        flash_stock_set.send(sender=Variant, variant_id=variant.pk)
    return variant


def _check_compare_at(variant: Variant) -> None:
    if (
        variant.compare_at_amount is not None
        and variant.price_amount is not None
        and variant.compare_at_amount <= variant.price_amount
    ):
        raise ValidationError(
            {"compare_at_amount": "The compare-at price must be higher than the price."}
        )


@transaction.atomic
def delete_variant(*, variant: Variant, by) -> None:
    product = variant.product
    ensure_owner(shop=product.shop, user=by)
    if product.status == Product.Status.ACTIVE and product.variants.count() == 1:
        raise ShopFeedError(
            "An active product needs at least one variant; archive the product instead.",
            code="last_variant",
        )
    variant.delete()


# --- images --------------------------------------------------------------------------------


@transaction.atomic
def add_product_image(
    *, product: Product, by, image, alt_text: str = "", position: int | None = None, source_url=""
) -> ProductImage:
    ensure_owner(shop=product.shop, user=by)
    validate_image_file(image)
    position = _next_position(product.images) if position is None else _bounded_position(position)
    img = ProductImage(product=product, alt_text=alt_text, position=position, source_url=source_url)
    img.image.save(getattr(image, "name", "image") or "image", image, save=False)
    img.save()
    from .tasks import make_thumbnail_task

    transaction.on_commit(lambda: make_thumbnail_task.delay(img.pk))
    return img


@transaction.atomic
def delete_product_image(*, image: ProductImage, by) -> None:
    ensure_owner(shop=image.product.shop, user=by)
    image.delete()


@transaction.atomic
def reorder_images(*, product: Product, by, order: Sequence[int]) -> None:
    ensure_owner(shop=product.shop, user=by)
    images = {img.pk: img for img in product.images.all()}
    if set(order) != set(images):
        raise ShopFeedError("List every image of the product exactly once.", field="order")
    for position, pk in enumerate(order):
        images[pk].position = position
    ProductImage.objects.bulk_update(images.values(), ["position"])
    tab_cache.changed(product.shop_id)


def make_thumbnail(*, image_id: int) -> ProductImage | None:
    """Make the thumbnail of one image; running it twice does no harm."""
    img = ProductImage.objects.filter(pk=image_id).first()
    if img is None or not img.image:
        return None  # deleted since it was queued
    with img.image.open("rb") as fh:
        data = render_thumbnail(fh)
    name = f"{img.pk}.jpg"
    old = img.thumbnail.name if img.thumbnail else None
    img.thumbnail.save(name, ContentFile(data), save=False)
    ProductImage.objects.filter(pk=img.pk).update(thumbnail=img.thumbnail.name)
    tab_cache.changed(Product.objects.filter(pk=img.product_id).values_list("shop_id", flat=True))
    if old and old != img.thumbnail.name:
        img.thumbnail.storage.delete(old)
    return img


# --- shopping tab --------------------------------------------------------------------------


@transaction.atomic
def arrange_tab(*, shop: Shop, by, order: Sequence[int], featured: Iterable[int] = ()) -> None:
    """Put the shop's products in `order` on its tab and feature the `featured` ones."""
    ensure_owner(shop=shop, user=by)
    featured = set(featured)
    if len(featured) > MAX_FEATURED:
        raise ShopFeedError(f"Feature at most {MAX_FEATURED} products.", field="featured")
    products = {p.pk: p for p in shop.products.select_for_update()}
    if len(set(order)) != len(order) or not set(order) <= set(products):
        raise ShopFeedError("The order lists products that are not in your shop.", field="order")
    if not featured <= set(products):
        raise ShopFeedError("You can only feature products of your shop.", field="featured")
    rest = sorted(set(products) - set(order), key=lambda pk: products[pk].tab_position)
    for position, pk in enumerate([*order, *rest], start=1):
        products[pk].tab_position = position
        products[pk].is_featured = pk in featured
    Product.objects.bulk_update(products.values(), ["tab_position", "is_featured"])
    tab_cache.changed(shop.pk)


@transaction.atomic
def add_image_source(
    *, product: Product, by, url: str, position: int | None = None, alt_text: str = ""
) -> ProductImage:
    """Record an image that lives at `url` (a CSV's "Image Src"); nothing is downloaded."""
    ensure_owner(shop=product.shop, user=by)
    position = _next_position(product.images) if position is None else _bounded_position(position)
    img = ProductImage(product=product, source_url=url, alt_text=alt_text, position=position)
    _full_clean(img, exclude=["product"])
    img.save()
    return img


# --- the product page: a product with its variants and images, saved at once --------------


@dataclass(frozen=True)
class VariantEdit:
    """One variant row of a product page: delete `variant`, or save `fields` on it (a new
    variant when `variant` is None). `key` names the row so that a refusal can be shown on it.
    """

    key: int
    variant: Variant | None = None
    fields: dict = field(default_factory=dict)
    position: int = 0
    delete: bool = False


class PartRefused(ShopFeedError):
    """A service refused one part of a product-page save; nothing of the save was kept.

    `part` is "product", "variant" (with the row's `key`), "images" or "uploads"; `error` is
    the refusal itself (a ShopFeedError or a ValidationError).
    """

    def __init__(self, error: Exception, *, part: str, key: int | None = None):
        self.error, self.part, self.key = error, part, key
        message = getattr(error, "message", None) or "; ".join(getattr(error, "messages", []))
        super().__init__(message, code=getattr(error, "code", None) or "invalid")


def save_product(
    *,
    shop: Shop,
    product: Product | None,
    by,
    fields: dict,
    tags: Iterable[str],
    status: str,
    new_category: str = "",
    variant_edits: Sequence[VariantEdit] = (),
    delete_images: Sequence[ProductImage] = (),
    image_order: Sequence[int] | None = None,
    uploads: Sequence = (),
    alt_text: str = "",
) -> Product:
    """Create (`product` None) or update a product with its variants and images, all or
    nothing: on any refusal (PartRefused) no row is kept and no uploaded file stays stored.

    `new_category`, when given, names the category instead of `fields["category"]`.
    """
    stored: list[str] = []
    try:
        with transaction.atomic():
            return _save_product(
                shop=shop,
                product=product,
                by=by,
                fields=dict(fields),
                tags=tags,
                status=status,
                new_category=new_category,
                variant_edits=variant_edits,
                delete_images=delete_images,
                image_order=image_order,
                uploads=uploads,
                alt_text=alt_text,
                stored=stored,
            )
    except IntegrityError as exc:
        _discard_files(stored)
        raise PartRefused(Conflict(CLASH_MESSAGE, code="clash"), part="product") from exc
    except Exception:
        _discard_files(stored)
        raise


def _discard_files(names: list[str]) -> None:
    # The rows were rolled back; their files were already in storage.
    for name in names:
        default_storage.delete(name)


def _refusing(part: str, key: int | None = None):
    """Run a service; a refusal becomes PartRefused naming the page part it belongs to."""

    def call(service, /, **kwargs):
        try:
            return service(**kwargs)
        except (ShopFeedError, ValidationError) as exc:
            raise PartRefused(exc, part=part, key=key) from exc

    return call


def _save_product(
    *, shop, product, by, fields, tags, status, new_category, variant_edits, stored, **images
) -> Product:
    on_product = _refusing("product")
    if new_category:
        fields["category"] = get_or_create_category(new_category)
    if product is None:
        product = on_product(create_product, shop=shop, by=by, tags=tags, **fields)
    else:
        # Leaving "active" happens first (so every variant may go); entering it comes last.
        if status != Product.Status.ACTIVE:
            fields["status"] = status
        product = on_product(update_product, product=product, by=by, tags=tags, **fields)
    _save_variant_edits(product=product, by=by, edits=variant_edits)
    if product.status != status:
        on_product(set_product_status, product=product, by=by, status=status)
    _save_images(product=product, by=by, stored=stored, **images)
    return product


def _save_variant_edits(*, product: Product, by, edits: Sequence[VariantEdit]) -> None:
    deleted = [e for e in edits if e.delete and e.variant is not None]
    # An active product may not lose its last variant: when every old one goes, the last
    # one goes after the new ones exist.
    held = None
    if deleted and product.status == Product.Status.ACTIVE:
        remaining = product.variants.exclude(
            pk__in=[e.variant.pk for e in deleted if e.variant is not None]
        )
        if not remaining.exists():
            held = deleted.pop()
    for edit in deleted:
        _refusing("variant", edit.key)(delete_variant, variant=edit.variant, by=by)
    for edit in edits:
        if not edit.delete:
            _refusing("variant", edit.key)(
                save_variant,
                product=product,
                by=by,
                variant=edit.variant,
                position=edit.position,
                **edit.fields,
            )
    if held is not None:
        _refusing("variant", held.key)(delete_variant, variant=held.variant, by=by)


def _save_images(
    *, product: Product, by, delete_images, image_order, uploads, alt_text, stored: list[str]
) -> None:
    on_images = _refusing("images")
    for image in delete_images:
        on_images(delete_product_image, image=image, by=by)
    if image_order is not None:
        on_images(reorder_images, product=product, by=by, order=image_order)
    for upload in uploads:
        img = _refusing("uploads")(
            add_product_image, product=product, by=by, image=upload, alt_text=alt_text
        )
        stored.append(img.image.name)
