"""Shopify's product CSV format, shared by the import (`shops.csv_import`) and the export
(`shops.csv_export`): the column names, money as Shopify writes it, Body (HTML) <-> text.

Shopify writes one row per variant. The first row of a handle carries the product (Title,
Body, Vendor, Type, Tags, option names, Status) and its first variant; the rows after it
carry the Handle, option values and variant columns, or only an image (Image Src + Image
Position).
"""

from __future__ import annotations

import html
import re

from django.utils.html import strip_tags

HANDLE = "Handle"
TITLE = "Title"
BODY = "Body (HTML)"
VENDOR = "Vendor"
CATEGORY = "Product Category"
TYPE = "Type"
TAGS = "Tags"
PUBLISHED = "Published"
OPTION_NAMES = ("Option1 Name", "Option2 Name", "Option3 Name")
OPTION_VALUES = ("Option1 Value", "Option2 Value", "Option3 Value")
SKU = "Variant SKU"
QTY = "Variant Inventory Qty"
PRICE = "Variant Price"
COMPARE_AT = "Variant Compare At Price"
IMAGE_SRC = "Image Src"
IMAGE_POSITION = "Image Position"
IMAGE_ALT = "Image Alt Text"
STATUS = "Status"

# The header exactly as Shopify's product export writes it.
COLUMNS = [
    HANDLE,
    TITLE,
    BODY,
    VENDOR,
    CATEGORY,
    TYPE,
    TAGS,
    PUBLISHED,
    OPTION_NAMES[0],
    OPTION_VALUES[0],
    OPTION_NAMES[1],
    OPTION_VALUES[1],
    OPTION_NAMES[2],
    OPTION_VALUES[2],
    SKU,
    "Variant Grams",
    "Variant Inventory Tracker",
    QTY,
    "Variant Inventory Policy",
    "Variant Fulfillment Service",
    PRICE,
    COMPARE_AT,
    "Variant Requires Shipping",
    "Variant Taxable",
    "Variant Barcode",
    IMAGE_SRC,
    IMAGE_POSITION,
    IMAGE_ALT,
    "Gift Card",
    "SEO Title",
    "SEO Description",
    "Google Shopping / Google Product Category",
    "Google Shopping / Gender",
    "Google Shopping / Age Group",
    "Google Shopping / MPN",
    "Google Shopping / Condition",
    "Google Shopping / Custom Product",
    "Google Shopping / Custom Label 0",
    "Google Shopping / Custom Label 1",
    "Google Shopping / Custom Label 2",
    "Google Shopping / Custom Label 3",
    "Google Shopping / Custom Label 4",
    "Variant Image",
    "Variant Weight Unit",
    "Variant Tax Code",
    "Cost per item",
    "Included / United States",
    "Price / United States",
    "Compare At Price / United States",
    "Included / International",
    "Price / International",
    "Compare At Price / International",
    STATUS,
]

# Shopify's placeholder option of a product without options.
DEFAULT_OPTION_NAME = "Title"
DEFAULT_OPTION_VALUE = "Default Title"


# A cell starting with one of these is run as a formula by spreadsheet programs (OWASP,
# "CSV Injection"): the export prefixes such a cell with a single quote, the import drops it.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _looks_escaped(value: str) -> bool:
    return value.startswith("'") and value.lstrip("'").startswith(FORMULA_STARTS)


def neutralise_formula(value: str) -> str:
    """`value` as a cell no spreadsheet runs as a formula; `restore_formula` undoes it.

    A value that already looks escaped ("'=x") gets a quote too, so the round trip is exact.
    """
    if value.startswith(FORMULA_STARTS) or _looks_escaped(value):
        return "'" + value
    return value


def restore_formula(value: str) -> str:
    return value[1:] if _looks_escaped(value) else value


def format_amount(amount: int | None) -> str:
    """Minor units as Shopify writes a price: 3900 -> "39.00"."""
    if amount is None:
        return ""
    return f"{amount // 100}.{amount % 100:02d}"


# --- Body (HTML) <-> plain description -----------------------------------------------------

_TAG_RE = re.compile(r"</?[a-zA-Z][^>]*>")
_DROP_RE = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_BR_RE = re.compile(r"<br\s*/?>", re.IGNORECASE)
_LI_RE = re.compile(r"<li\b[^>]*>", re.IGNORECASE)
_BLOCK_END_RE = re.compile(
    r"</(p|div|h[1-6]|ul|ol|table|tr|blockquote|section|article)\s*>", re.IGNORECASE
)


def html_to_text(value: str) -> str:
    """Shopify's Body (HTML) as the plain text our descriptions hold (pages escape it)."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    if _TAG_RE.search(value):
        value = _DROP_RE.sub("", value)
        value = re.sub(r"\s+", " ", value)  # in HTML a line break is just a space
        value = _BR_RE.sub("\n", value)
        value = _LI_RE.sub("\n• ", value)
        value = _BLOCK_END_RE.sub("\n\n", value)
        value = html.unescape(strip_tags(value))
    lines = [line.strip() for line in value.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def text_to_html(value: str) -> str:
    if not value:
        return ""
    paragraphs = re.split(r"\n\s*\n", value.strip())
    return "".join(
        f"<p>{html.escape(p.strip(), quote=False).replace(chr(10), '<br>')}</p>"
        for p in paragraphs
        if p.strip()
    )
