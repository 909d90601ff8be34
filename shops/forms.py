"""Creator dashboard forms: the shop, a product with its variants and images, the tab."""

from decimal import Decimal

from django import forms
from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.forms import BaseFormSet, BaseInlineFormSet

from shopfeed.errors import ShopFeedError

from . import services
from .images import validate_image_file
from .models import Category, Product, ProductImage, Shop, Variant
from .money import currency_exponent, to_minor_units

MAX_UPLOADS = 10
MAX_TAGS = 20
# Major units; keeps every minor-unit amount inside a 32-bit integer column.
MAX_PRICE = Decimal("1000000")
MAX_QUANTITY = 1_000_000
IMAGE_ACCEPT = "image/jpeg,image/png,image/webp,image/gif"


def add_service_error(target, exc, *, field_names=None, default_field=None) -> None:
    """Show a service's ShopFeedError / ValidationError on a form (its field) or formset.

    Shared by every app's pages (live's studio too), so it lives with the forms, not a view.
    """
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


# --- shop ----------------------------------------------------------------------------------


class ShopForm(forms.ModelForm):
    # A plain file field: the project's validator decodes only the allowed formats.
    logo = forms.FileField(
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": IMAGE_ACCEPT}),
        validators=[validate_image_file],
        help_text="JPEG, PNG, WebP or GIF.",
    )

    class Meta:
        model = Shop
        fields = services.SHOP_FIELDS
        widgets = {
            "description": forms.Textarea(attrs={"rows": 4}),
            "currency": forms.TextInput(
                attrs={"maxlength": 3, "size": 4, "autocapitalize": "characters"}
            ),
        }
        help_texts = {
            "slug": "Letters, digits and hyphens; part of your shop's address.",
            "currency": "Three-letter code, e.g. USD or EUR. Fixed once you have products.",
        }

    def clean_currency(self):
        return (self.cleaned_data.get("currency") or "").strip().upper()

    def shop_fields(self) -> dict:
        """Keyword arguments for services.open_shop / update_shop."""
        fields = {f: self.cleaned_data[f] for f in ("name", "slug", "description", "currency")}
        logo = self.cleaned_data.get("logo")
        if logo is False:  # "clear" ticked
            fields["logo"] = ""
        elif isinstance(logo, UploadedFile):
            fields["logo"] = logo
        return fields


class OpenShopForm(ShopForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False
        self.fields["slug"].help_text = "Optional: made from the name when left empty."
        self.fields["currency"].required = False
        self.fields["currency"].initial = settings.DEFAULT_CURRENCY


# --- product -------------------------------------------------------------------------------


class ProductForm(forms.Form):
    title = forms.CharField(max_length=255)
    handle = forms.SlugField(
        max_length=255,
        required=False,
        help_text="The product's address in your tab; made from the title when left empty.",
    )
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 5}))
    status = forms.ChoiceField(
        choices=Product.Status.choices,
        initial=Product.Status.DRAFT,
        help_text="Drafts are not shown on your shopping tab — set Status to Active to publish.",
    )
    category = forms.ModelChoiceField(
        queryset=Category.objects.all(), required=False, empty_label="— none —"
    )
    new_category = forms.CharField(
        max_length=80, required=False, label="…or a new category", help_text="Used if filled in."
    )
    tags = forms.CharField(required=False, help_text="Comma-separated, e.g. linen, summer.")
    vendor = forms.CharField(max_length=120, required=False)
    product_type = forms.CharField(max_length=120, required=False)
    option1_name = forms.CharField(max_length=60, required=False, label="Option 1 name")
    option2_name = forms.CharField(max_length=60, required=False, label="Option 2 name")
    option3_name = forms.CharField(max_length=60, required=False, label="Option 3 name")

    def __init__(self, *args, shop: Shop, product: Product | None = None, **kwargs):
        if product is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                **{f: getattr(product, f) for f in services.PRODUCT_FIELDS},
                "status": product.status,
                "category": product.category_id,
                "tags": ", ".join(t.name for t in product.tags.all()),
            }
        super().__init__(*args, **kwargs)
        self.shop, self.product = shop, product
        self.fields["option1_name"].help_text = "e.g. Size or Color; leave empty if none."
        if product is not None:
            self.fields["handle"].required = True
            self.fields["handle"].help_text = "The product's address in your tab."

    def clean_handle(self):
        handle = self.cleaned_data["handle"]
        if handle:
            taken = Product.objects.filter(shop=self.shop, handle=handle)
            if self.product is not None:
                taken = taken.exclude(pk=self.product.pk)
            if taken.exists():
                raise ValidationError("You already have a product with this handle.")
        return handle

    def clean_tags(self) -> list[str]:
        names = [t.strip() for t in self.cleaned_data["tags"].split(",") if t.strip()]
        if len(names) > MAX_TAGS:
            raise ValidationError(f"Use at most {MAX_TAGS} tags.")
        too_long = [t for t in names if len(t) > 60]
        if too_long:
            raise ValidationError(f"A tag has at most 60 characters: {too_long[0][:60]}…")
        return names

    def product_fields(self) -> dict:
        """Keyword arguments for services.create_product / update_product (category aside)."""
        cd = self.cleaned_data
        fields = {
            f: cd[f] for f in services.PRODUCT_FIELDS if f not in ("category", "handle") and f in cd
        }
        if cd.get("handle"):
            fields["handle"] = cd["handle"]
        return fields


class VariantForm(forms.ModelForm):
    price = forms.DecimalField()
    compare_at = forms.DecimalField(required=False)
    quantity = forms.IntegerField(
        min_value=0,
        max_value=MAX_QUANTITY,
        required=False,
        initial=0,
        label="In stock",
        widget=forms.NumberInput(attrs={"min": 0, "inputmode": "numeric"}),
    )

    flash_limit_per_buyer = forms.IntegerField(
        min_value=1,
        max_value=services.MAX_FLASH_LIMIT,
        required=False,
        label="Flash limit per buyer",
        help_text="Most units one buyer may take in the flash sale; empty for the site default.",
        widget=forms.NumberInput(attrs={"min": 1, "inputmode": "numeric"}),
    )

    class Meta:
        model = Variant
        fields = (
            "sku",
            "option1",
            "option2",
            "option3",
            "quantity",
            "flash_sale",
            "flash_limit_per_buyer",
        )
        labels = {"sku": "SKU", "flash_sale": "Flash sale"}
        help_texts = {
            "flash_sale": "A hot drop: buyers get their units at once and orders are written "
            "in batches."
        }

    def __init__(self, *args, currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.currency = currency
        places = currency_exponent(currency)
        for name, label, required in (
            ("price", f"Price ({currency})", True),
            ("compare_at", "Compare-at price", False),
        ):
            self.fields[name] = forms.DecimalField(
                label=label,
                required=required,
                max_value=MAX_PRICE,
                decimal_places=places,
                error_messages={
                    "invalid": f"Enter a price like {Decimal(3900).scaleb(-places)}.",
                },
                widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
            )
        if self.instance.pk:
            self.initial["price"] = Decimal(self.instance.price_amount).scaleb(-places)
            if self.instance.compare_at_amount is not None:
                self.initial["compare_at"] = Decimal(self.instance.compare_at_amount).scaleb(
                    -places
                )

    def has_changed(self):
        changed = set(self.changed_data)
        # A blank new row with the default stock of 0 (or none typed) is an unused row.
        if self.instance.pk is None and self.data.get(self.add_prefix("quantity"), "") in ("", "0"):
            changed.discard("quantity")
        return bool(changed)

    def clean_quantity(self):
        quantity = self.cleaned_data.get("quantity")
        return 0 if quantity is None else quantity

    def clean(self):
        cd = super().clean()
        price, compare_at = cd.get("price"), cd.get("compare_at")
        if price is not None:
            cd["price_amount"] = to_minor_units(price, self.currency)
            if cd["price_amount"] < 1:
                self.add_error("price", "The price must be more than zero.")
        if compare_at is not None:
            cd["compare_at_amount"] = to_minor_units(compare_at, self.currency)
            if price is not None and cd["compare_at_amount"] <= cd.get("price_amount", 0):
                self.add_error("compare_at", "The compare-at price must be higher than the price.")
        return cd

    def variant_fields(self) -> dict:
        """Keyword arguments for services.save_variant."""
        cd = self.cleaned_data
        return {
            "sku": cd.get("sku", ""),
            "option1": cd.get("option1", ""),
            "option2": cd.get("option2", ""),
            "option3": cd.get("option3", ""),
            "price_amount": cd["price_amount"],
            "compare_at_amount": cd.get("compare_at_amount"),
            "quantity": cd["quantity"],
            "flash_sale": cd.get("flash_sale", False),
            "flash_limit_per_buyer": cd.get("flash_limit_per_buyer"),
        }


class BaseVariantFormSet(BaseInlineFormSet):
    def __init__(self, *args, shop: Shop, **kwargs):
        self.shop = shop
        kwargs.setdefault("form_kwargs", {})["currency"] = shop.currency
        super().__init__(*args, **kwargs)

    def clean(self):
        if any(self.errors):
            return
        deleted = {id(f) for f in self.forms if self._should_delete_form(f)}
        rows = [
            f for f in self.forms if id(f) not in deleted and (f.instance.pk or f.has_changed())
        ]
        skus: dict[str, VariantForm] = {}
        options: dict[tuple, VariantForm] = {}
        for form in rows:
            cd = form.cleaned_data
            sku = cd.get("sku", "")
            if sku:
                if sku in skus:
                    form.add_error("sku", f"SKU {sku} is used by two variants.")
                skus[sku] = form
            key = (cd.get("option1", ""), cd.get("option2", ""), cd.get("option3", ""))
            if key in options:
                form.add_error(
                    None,
                    "Two variants have the same options; give each a different option value.",
                )
            options[key] = form
        if skus:
            taken = Variant.objects.filter(shop=self.shop, sku__in=list(skus))
            if self.instance.pk:
                taken = taken.exclude(product=self.instance)
            for sku, title in taken.values_list("sku", "product__title"):
                skus[sku].add_error("sku", f"SKU {sku} is already used by “{title}”.")
        if not any(self.errors):
            super().clean()


VariantFormSet = forms.inlineformset_factory(
    Product,
    Variant,
    form=VariantForm,
    formset=BaseVariantFormSet,
    fields=VariantForm.Meta.fields,
    extra=1,
    can_delete=True,
    can_delete_extra=False,
)


class MultipleFileInput(forms.FileInput):
    allow_multiple_selected = True


class MultipleImageField(forms.FileField):
    """Several image files; every one is checked before anything is stored."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": IMAGE_ACCEPT}))
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        files = [f for f in data if f] if isinstance(data, list | tuple) else [data] if data else []
        if len(files) > MAX_UPLOADS:
            raise ValidationError(f"Upload at most {MAX_UPLOADS} images at a time.")
        errors = []
        for f in files:
            try:
                super().clean(f, initial)
                validate_image_file(f)
            except ValidationError as exc:
                errors.extend(f"{f.name}: {m}" for m in exc.messages)
        if errors:
            raise ValidationError(errors)
        return files


class ImageUploadForm(forms.Form):
    images = MultipleImageField(
        label="Add images",
        help_text=f"JPEG, PNG, WebP or GIF; up to {MAX_UPLOADS} at a time.",
    )
    alt_text = forms.CharField(
        max_length=200, required=False, label="Alt text", help_text="Describes the new images."
    )


class ImageOrderForm(forms.ModelForm):
    class Meta:
        model = ProductImage
        fields = ("position",)
        widgets = {"position": forms.NumberInput(attrs={"min": 0, "class": "narrow-number"})}


ImageFormSet = forms.modelformset_factory(
    ProductImage, form=ImageOrderForm, extra=0, can_delete=True
)


def image_order(formset) -> list[int] | None:
    """The kept images' ids by their typed positions, or None when nothing moved."""
    deleted = {id(f) for f in formset.deleted_forms if f.instance.pk}
    kept = [(i, f) for i, f in enumerate(formset.forms) if id(f) not in deleted]
    if not deleted and not any(f.has_changed() for _, f in kept):
        return None
    kept.sort(key=lambda item: (item[1].cleaned_data["position"], item[0]))
    return [f.instance.pk for _, f in kept]


# --- shopping tab --------------------------------------------------------------------------


class TabRowForm(forms.Form):
    product = forms.IntegerField(widget=forms.HiddenInput)
    position = forms.IntegerField(
        min_value=1,
        max_value=100_000,
        widget=forms.NumberInput(attrs={"min": 1, "class": "narrow-number"}),
    )
    featured = forms.BooleanField(required=False)


class BaseTabFormSet(BaseFormSet):
    def clean(self):
        if any(self.errors):
            return
        featured = self.featured()
        if len(featured) > services.MAX_FEATURED:
            raise ValidationError(
                f"Feature at most {services.MAX_FEATURED} products; you ticked {len(featured)}."
            )

    def featured(self) -> list[int]:
        return [f.cleaned_data["product"] for f in self.forms if f.cleaned_data.get("featured")]

    def order(self, move: str = "") -> list[int]:
        """Product ids by typed position; `move` ("<id>:up" / "<id>:down") nudges one."""
        rows = sorted(
            enumerate(self.forms), key=lambda item: (item[1].cleaned_data["position"], item[0])
        )
        order = [f.cleaned_data["product"] for _, f in rows]
        pk, _, direction = move.partition(":")
        if pk.isdigit() and int(pk) in order and direction in ("up", "down"):
            i = order.index(int(pk))
            j = i - 1 if direction == "up" else i + 1
            if 0 <= j < len(order):
                order[i], order[j] = order[j], order[i]
        return order


TabFormSet = forms.formset_factory(TabRowForm, formset=BaseTabFormSet, extra=0)
