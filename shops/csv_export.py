"""Shopify product CSV export: every product of a shop, one row per variant or image."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from urllib.parse import urljoin

from django.db.models import Prefetch

from .csv_format import (
    BODY,
    CATEGORY,
    COLUMNS,
    COMPARE_AT,
    DEFAULT_OPTION_NAME,
    DEFAULT_OPTION_VALUE,
    HANDLE,
    IMAGE_ALT,
    IMAGE_POSITION,
    IMAGE_SRC,
    OPTION_NAMES,
    OPTION_VALUES,
    PRICE,
    PUBLISHED,
    QTY,
    SKU,
    STATUS,
    TAGS,
    TITLE,
    TYPE,
    VENDOR,
    format_amount,
    neutralise_formula,
    text_to_html,
)
from .models import Product, ProductImage, Shop, Variant


class _Echo:
    def write(self, value: str) -> str:
        return value


def export_products_csv(*, shop: Shop, base_url: str = "") -> Iterator[str]:
    """Every product of `shop` (any status) as Shopify CSV lines, the header first.

    `base_url` turns uploaded images' relative media URLs into full addresses.
    """
    writer = csv.writer(_Echo())
    yield writer.writerow(COLUMNS)
    products = (
        shop.products.select_related("category")
        .prefetch_related(
            Prefetch("variants", queryset=Variant.objects.order_by("position", "id")),
            Prefetch("images", queryset=ProductImage.objects.order_by("position", "id")),
            "tags",
        )
        .order_by("tab_position", "id")
    )
    for product in products.iterator(chunk_size=200):
        for row in _export_rows(product, base_url=base_url):
            yield writer.writerow([neutralise_formula(row.get(c, "")) for c in COLUMNS])


def _export_rows(product: Product, *, base_url: str) -> Iterator[dict[str, str]]:
    variants = list(product.variants.all())
    images = [(img, url) for img in product.images.all() if (url := _image_url(img, base_url))]
    names, default_title = _option_names(product, variants)
    for i in range(max(len(variants), len(images), 1)):
        row = {HANDLE: product.handle}
        if i == 0:
            row.update(_product_cells(product, names))
        if i < len(variants):
            row.update(_variant_cells(variants[i], default_title=default_title))
        if i < len(images):
            img, url = images[i]
            row.update({IMAGE_SRC: url, IMAGE_POSITION: str(i + 1), IMAGE_ALT: img.alt_text})
        yield row


def _option_names(product: Product, variants: list[Variant]) -> tuple[list[str], bool]:
    names = [product.option1_name, product.option2_name, product.option3_name]
    for i in range(3):
        if not names[i] and any(getattr(v, f"option{i + 1}") for v in variants):
            names[i] = f"Option {i + 1}"  # values without a name: Shopify needs one
    default_title = not any(names)
    if default_title:
        names[0] = DEFAULT_OPTION_NAME
    return names, default_title


def _product_cells(product: Product, names: list[str]) -> dict[str, str]:
    cells = {
        TITLE: product.title,
        BODY: text_to_html(product.description),
        VENDOR: product.vendor,
        CATEGORY: product.category.name if product.category else "",
        TYPE: product.product_type,
        TAGS: ", ".join(sorted(t.name for t in product.tags.all())),
        PUBLISHED: "TRUE" if product.status == Product.Status.ACTIVE else "FALSE",
        "Gift Card": "FALSE",
        STATUS: product.status,
    }
    cells.update(zip(OPTION_NAMES, names, strict=True))
    return cells


def _variant_cells(v: Variant, *, default_title: bool) -> dict[str, str]:
    values = (v.option1, v.option2, v.option3)
    cells = {
        column: DEFAULT_OPTION_VALUE if default_title and n == 0 else values[n]
        for n, column in enumerate(OPTION_VALUES)
    }
    cells.update(
        {
            SKU: v.sku,
            "Variant Inventory Tracker": "shopify",
            QTY: str(v.quantity),
            "Variant Inventory Policy": "deny",
            "Variant Fulfillment Service": "manual",
            PRICE: format_amount(v.price_amount),
            COMPARE_AT: format_amount(v.compare_at_amount),
            "Variant Requires Shipping": "TRUE",
            "Variant Taxable": "TRUE",
            "Variant Weight Unit": "kg",
        }
    )
    return cells


def _image_url(img: ProductImage, base_url: str) -> str:
    if img.source_url:
        return img.source_url
    if not img.image:
        return ""
    url = img.image.url
    return urljoin(base_url, url) if base_url else url
