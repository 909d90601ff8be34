"""Shopify product CSV import/export: the service, the dashboard pages and the commands."""

import csv
import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from shopfeed.accounts.tests.factories import CreatorFactory
from shopfeed.errors import NotAllowed
from shops.csv_export import export_products_csv
from shops.csv_format import COLUMNS, format_amount
from shops.csv_import import import_products_csv
from shops.csv_import.jobs import run_import
from shops.csv_import.services import check_import, write_import
from shops.models import Category, Product, ProductImage, ProductImport, Tag, Variant
from shops.tests.factories import (
    ProductFactory,
    ProductImageFactory,
    ShopFactory,
    VariantFactory,
)

DATA = Path(__file__).parent / "data"
GOOD = DATA / "shopify_products.csv"
BAD = DATA / "shopify_bad_rows.csv"
CDN = "https://cdn.shopify.com/s/files/1/0533/2089/7012/products"


def import_file(shop, path=GOOD, by=None):
    with open(path, "rb") as fh:
        return import_products_csv(shop=shop, by=by or shop.owner, file=fh)


def csv_bytes(rows, header=None) -> io.BytesIO:
    """A CSV with the given header (Shopify's by default) and rows given as dicts."""
    header = header or COLUMNS
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return io.BytesIO(buf.getvalue().encode("utf-8"))


def read_rows(path=GOOD) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def row_counts() -> dict:
    return {
        model.__name__: model.objects.count()
        for model in (Product, Variant, ProductImage, Tag, Category)
    }


def snapshot(shop) -> dict:
    """What a shop sells, without ids: for comparing two imports."""
    out = {}
    for p in shop.products.select_related("category").prefetch_related("tags"):
        out[p.handle] = {
            "title": p.title,
            "description": p.description,
            "vendor": p.vendor,
            "type": p.product_type,
            "category": p.category.name if p.category else None,
            "status": p.status,
            "options": p.option_names,
            "tags": sorted(t.name for t in p.tags.all()),
            "variants": [
                (
                    v.sku,
                    v.option1,
                    v.option2,
                    v.option3,
                    v.price_amount,
                    v.compare_at_amount,
                    v.quantity,
                    v.currency,
                )
                for v in p.variants.order_by("position", "id")
            ],
            "images": [
                (i.position, i.source_url, i.alt_text) for i in p.images.order_by("position", "id")
            ],
        }
    return out


def variants_of(shop, handle):
    return {
        (v.option1, v.option2): v for v in Variant.objects.filter(shop=shop, product__handle=handle)
    }


# --- importing a real Shopify file ---------------------------------------------------------


def test_import_of_shopify_file_creates_each_product_with_its_variants(shop):
    report = import_file(shop)

    assert report.errors == []
    assert (report.products_created, report.variants_created, report.images_added) == (3, 9, 5)
    assert sorted(shop.products.values_list("handle", flat=True)) == [
        "canvas-tote",
        "oversized-linen-shirt",
        "silk-scrunchie-set",
    ]
    shirt = shop.products.get(handle="oversized-linen-shirt")
    assert shirt.title == "Oversized Linen Shirt"
    assert shirt.vendor == "Mia's Closet"
    assert shirt.product_type == "Shirts"
    assert shirt.category.name == "Shirts & Tops"
    assert shirt.status == Product.Status.ACTIVE
    assert shirt.option_names == ["Size", "Colour"]
    assert sorted(t.name for t in shirt.tags.all()) == ["bestseller", "linen", "summer"]


def test_import_spreads_six_variants_over_rows_with_exact_prices_and_stock(shop):
    import_file(shop)

    shirt = variants_of(shop, "oversized-linen-shirt")
    got = {
        key: (v.sku, v.price_amount, v.compare_at_amount, v.quantity, v.currency)
        for key, v in shirt.items()
    }
    assert got == {
        ("S", "Sand"): ("LIN-S-SAN", 3900, 4900, 12, "USD"),
        ("S", "White"): ("LIN-S-WHI", 3900, None, 8, "USD"),
        ("M", "Sand"): ("LIN-M-SAN", 3900, 4900, 20, "USD"),
        ("M", "White"): ("LIN-M-WHI", 3900, None, 0, "USD"),
        ("L", "Sand"): ("LIN-L-SAN", 4250, 4900, 5, "USD"),
        ("L", "White"): ("LIN-L-WHI", 4250, None, 3, "USD"),
    }
    order = Variant.objects.filter(product__handle="oversized-linen-shirt").order_by("position")
    assert [v.sku for v in order] == [
        "LIN-S-SAN",
        "LIN-S-WHI",
        "LIN-M-SAN",
        "LIN-M-WHI",
        "LIN-L-SAN",
        "LIN-L-WHI",
    ]


def test_import_turns_the_html_body_into_the_plain_description(shop):
    import_file(shop)

    shirt = shop.products.get(handle="oversized-linen-shirt")
    assert shirt.description == (
        "Our best-selling shirt, cut loose and boxy, in washed European linen.\n\n"
        "• 100% linen, garment-dyed, pre-washed\n"
        "• Relaxed fit, dropped shoulders\n"
        "• Machine wash cold, tumble dry low\n\n"
        "Model is 5'9\", wears size M."
    )


def test_import_reads_default_title_as_no_options_and_image_only_rows_as_images(shop):
    import_file(shop)

    tote = shop.products.get(handle="canvas-tote")
    assert tote.option_names == []
    assert [(v.sku, v.option1, v.price_amount, v.quantity) for v in tote.variants.all()] == [
        ("TOTE-01", "", 1800, 40)
    ]
    assert [(i.position, i.source_url, i.alt_text, bool(i.image)) for i in tote.images.all()] == [
        (0, f"{CDN}/canvas-tote.jpg?v=1700000001", "Natural canvas tote", False),
        (1, f"{CDN}/canvas-tote-detail.jpg?v=1700000001", "Inside pocket", False),
    ]
    shirt_images = shop.products.get(handle="oversized-linen-shirt").images.all()
    assert [i.alt_text for i in shirt_images] == [
        "Oversized linen shirt in Sand, front",
        "Oversized linen shirt in Sand, back",
        "Oversized linen shirt in White, front",
    ]


def test_import_keeps_draft_status_and_a_variant_without_sku(shop):
    import_file(shop)

    scrunchie = shop.products.get(handle="silk-scrunchie-set")
    assert scrunchie.status == Product.Status.DRAFT
    assert scrunchie.category.name == "Accessories"  # from Type: no Product Category given
    assert [
        (v.sku, v.option1, v.price_amount, v.compare_at_amount, v.quantity)
        for v in scrunchie.variants.all()
    ] == [("SCR-3", "3-pack", 1250, None, 0), ("", "5-pack", 1999, 2400, 7)]


def test_import_reads_a_text_file_object_too(shop):
    text = GOOD.read_text(encoding="utf-8")

    report = import_products_csv(shop=shop, by=shop.owner, file=io.StringIO(text))

    assert report.ok
    assert report.products_created == 3


def test_import_accepts_a_byte_order_mark_and_published_when_status_is_absent(shop):
    body = "\ufeffHandle,Title,Published,Variant Price\nmug,Mug,TRUE,8\nbowl,Bowl,FALSE,9.5\n"

    report = import_products_csv(shop=shop, by=shop.owner, file=io.BytesIO(body.encode()))

    assert report.ok, report.errors
    got = {p.handle: (p.status, p.variants.get().price_amount) for p in shop.products.all()}
    assert got == {"mug": ("active", 800), "bowl": ("draft", 950)}


# --- re-importing ----------------------------------------------------------------------------


def test_reimport_updates_by_handle_and_sku_without_duplicating(shop):
    import_file(shop)
    rows = read_rows()
    rows[0]["Title"] = "Oversized Linen Shirt (2025 cut)"
    rows[0]["Tags"] = "linen, sale"
    rows[1]["Variant Price"] = "35.00"  # LIN-S-WHI
    rows[1]["Variant Inventory Qty"] = "2"
    rows[-1]["Variant Inventory Qty"] = "11"  # the scrunchie 5-pack, found by its options

    report = import_products_csv(shop=shop, by=shop.owner, file=csv_bytes(rows))

    assert report.errors == []
    assert (report.products_created, report.products_updated) == (0, 3)
    assert (report.variants_created, report.variants_updated, report.images_added) == (0, 9, 0)
    assert shop.products.count() == 3
    assert Variant.objects.filter(shop=shop).count() == 9
    assert ProductImage.objects.filter(product__shop=shop).count() == 5
    shirt = shop.products.get(handle="oversized-linen-shirt")
    assert shirt.title == "Oversized Linen Shirt (2025 cut)"
    assert sorted(t.name for t in shirt.tags.all()) == ["linen", "sale"]
    white_s = Variant.objects.get(shop=shop, sku="LIN-S-WHI")
    assert (white_s.price_amount, white_s.quantity) == (3500, 2)
    assert Variant.objects.get(shop=shop, option1="5-pack").quantity == 11


def test_reimport_leaves_variants_the_file_does_not_list_alone(shop):
    shirt = ProductFactory(shop=shop, handle="oversized-linen-shirt", option1_name="Size")
    extra = VariantFactory(product=shirt, sku="LIN-XS", option1="XS", option2="", quantity=4)

    report = import_file(shop)

    assert report.errors == []
    assert (report.products_created, report.products_updated) == (2, 1)
    extra.refresh_from_db()
    assert (extra.product_id, extra.sku, extra.quantity) == (shirt.pk, "LIN-XS", 4)
    assert shirt.variants.count() == 7


def test_blank_quantity_keeps_stock_of_an_existing_variant(shop):
    import_file(shop)
    rows = [{"Handle": "canvas-tote", "Variant SKU": "TOTE-01", "Variant Price": "20.00"}]

    report = import_products_csv(shop=shop, by=shop.owner, file=csv_bytes(rows))

    assert report.ok, report.errors
    tote = Variant.objects.get(shop=shop, sku="TOTE-01")
    assert (tote.price_amount, tote.quantity) == (2000, 40)
    assert shop.products.get(handle="canvas-tote").title == "Canvas Tote"  # no Title: untouched


def test_sku_of_another_product_of_the_shop_is_refused(shop):
    VariantFactory(product=ProductFactory(shop=shop, handle="old-shirt"), sku="LIN-M-SAN")
    before = row_counts()

    report = import_file(shop)

    assert [(e.row_number, e.column) for e in report.errors] == [(4, "Variant SKU")]
    assert "old-shirt" in report.errors[0].message
    assert row_counts() == before


def test_a_sku_used_in_another_shop_is_fine(shop, other_shop):
    VariantFactory(product=ProductFactory(shop=other_shop), sku="TOTE-01")

    assert import_file(shop).ok


# --- bad files -----------------------------------------------------------------------------


def test_bad_file_reports_each_bad_row_with_its_column_and_imports_nothing(shop):
    before = row_counts()

    report = import_file(shop, BAD)

    assert [(e.row_number, e.column) for e in report.errors] == [
        (3, "Variant Price"),
        (4, "Variant Price"),
        (5, "Variant Compare At Price"),
        (6, "Variant Inventory Qty"),
        (7, "Variant SKU"),
        (8, "Option1 Value"),
        (9, "Option1 Value"),
        (10, "Title"),
        (11, "Status"),
        (11, "Variant Price"),
        (12, "Handle"),
        (13, "Image Src"),
    ]
    messages = {(e.row_number, e.column): e.message for e in report.errors}
    assert "fifty" in messages[(3, "Variant Price")]
    assert "2 decimal places" in messages[(4, "Variant Price")]
    assert "higher than the price (55.00)" in messages[(5, "Variant Compare At Price")]
    assert "negative" in messages[(6, "Variant Inventory Qty")]
    assert "row 2" in messages[(7, "Variant SKU")]
    assert "mystery-cap" in messages[(10, "Title")]
    assert "live" in messages[(11, "Status")]
    assert (report.products_created, report.variants_created) == (0, 0)
    assert row_counts() == before
    assert not shop.products.filter(handle__in=["zip-hoodie", "beanie", "crew-socks"]).exists()


@pytest.mark.parametrize(
    ("price", "message"),
    [
        ("1e3", "not an amount"),
        ("12,50", "not an amount"),
        ("-4.00", "negative"),
        ("0", "more than 0"),
        ("0.001", "2 decimal places"),
        ("", "required"),
    ],
)
def test_a_price_that_is_not_a_positive_amount_in_cents_is_refused(shop, price, message):
    rows = [{"Handle": "mug", "Title": "Mug", "Variant SKU": "MUG-1", "Variant Price": price}]

    report = import_products_csv(shop=shop, by=shop.owner, file=csv_bytes(rows))

    assert [(e.row_number, e.column) for e in report.errors] == [(2, "Variant Price")]
    assert message in report.errors[0].message
    assert not shop.products.exists()


@pytest.mark.parametrize(
    ("price", "cents"), [("7", 700), ("7.5", 750), ("0.01", 1), ("19.99", 1999)]
)
def test_prices_become_exact_integer_cents(shop, price, cents):
    rows = [{"Handle": "mug", "Title": "Mug", "Variant Price": price}]

    assert import_products_csv(shop=shop, by=shop.owner, file=csv_bytes(rows)).ok
    assert Variant.objects.get(shop=shop).price_amount == cents


def test_a_new_product_without_any_variant_is_reported(shop):
    rows = [{"Handle": "mug", "Title": "Mug"}]

    report = import_products_csv(shop=shop, by=shop.owner, file=csv_bytes(rows))

    assert [(e.row_number, e.column) for e in report.errors] == [(2, "Variant Price")]
    assert "no variant" in report.errors[0].message


def test_header_without_handle_is_reported(shop):
    file = io.BytesIO(b"Name,Price\nMug,8.00\n")

    report = import_products_csv(shop=shop, by=shop.owner, file=file)

    assert [(e.row_number, e.column) for e in report.errors] == [(1, "Handle")]


def test_file_that_is_not_utf8_is_reported(shop):
    file = io.BytesIO("Handle,Title,Variant Price\nbag,Sac à main,10\n".encode("latin-1"))

    report = import_products_csv(shop=shop, by=shop.owner, file=file)

    assert len(report.errors) == 1
    assert "UTF-8" in report.errors[0].message
    assert "line 2" in report.errors[0].message
    assert not shop.products.exists()


def test_file_over_the_size_limit_is_refused_before_reading(shop, settings):
    settings.CSV_IMPORT_MAX_BYTES = 100

    report = import_file(shop)

    assert "larger than" in report.errors[0].message
    assert not shop.products.exists()


def test_a_change_made_between_the_check_and_the_write_rolls_back_the_whole_import(shop):
    with open(GOOD, "rb") as fh:
        report, plans = check_import(shop=shop, by=shop.owner, file=fh)
    assert report.ok
    assert plans
    # Meanwhile another request gives a product of the shop a SKU the file uses.
    VariantFactory(product=ProductFactory(shop=shop, handle="other"), sku="TOTE-01")
    before = row_counts()

    report = write_import(shop=shop, plans=plans, report=report)

    assert [(e.row_number, e.message) for e in report.errors] == [
        (0, "This conflicts with a change made at the same time; import again.")
    ]
    assert report.products_created == 0
    assert row_counts() == before


def test_a_product_deleted_between_the_check_and_the_write_rolls_back_the_whole_import(shop):
    import_file(shop)
    with open(GOOD, "rb") as fh:
        report, plans = check_import(shop=shop, by=shop.owner, file=fh)
    shop.products.get(handle="canvas-tote").delete()  # meanwhile, in another request
    before = row_counts()

    report = write_import(shop=shop, plans=plans, report=report)

    assert [(e.row_number, e.message) for e in report.errors] == [
        (0, "This conflicts with a change made at the same time; import again.")
    ]
    assert row_counts() == before


def test_another_creator_cannot_import_into_your_shop(shop):
    intruder = CreatorFactory()
    ShopFactory(owner=intruder)

    with pytest.raises(NotAllowed):
        import_file(shop, by=intruder)
    assert not Product.objects.exists()


# --- export --------------------------------------------------------------------------------


def exported_rows(shop, **kwargs) -> list[dict]:
    text = "".join(export_products_csv(shop=shop, **kwargs))
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_export_writes_shopify_columns_with_variants_and_images_over_rows(shop):
    import_file(shop)
    archived = ProductFactory(shop=shop, handle="old-cap", title="Old Cap", status="archived")
    VariantFactory(product=archived, sku="CAP-OLD", option1="", price_amount=999, quantity=1)

    text = "".join(export_products_csv(shop=shop))
    rows = list(csv.DictReader(io.StringIO(text, newline="")))

    assert text.splitlines()[0].split(",")[:3] == ["Handle", "Title", "Body (HTML)"]
    assert list(rows[0]) == COLUMNS
    handles = [r["Handle"] for r in rows]
    assert handles.count("oversized-linen-shirt") == 6
    assert handles.count("canvas-tote") == 2  # one variant row, one image-only row
    first = next(r for r in rows if r["Handle"] == "oversized-linen-shirt")
    assert (first["Title"], first["Option1 Name"], first["Option2 Name"]) == (
        "Oversized Linen Shirt",
        "Size",
        "Colour",
    )
    assert (first["Variant SKU"], first["Variant Price"], first["Variant Compare At Price"]) == (
        "LIN-S-SAN",
        "39.00",
        "49.00",
    )
    tote_image = [r for r in rows if r["Handle"] == "canvas-tote"][1]
    assert (tote_image["Title"], tote_image["Variant SKU"], tote_image["Image Position"]) == (
        "",
        "",
        "2",
    )
    statuses = {r["Handle"]: r["Status"] for r in rows if r["Title"]}
    assert statuses == {
        "oversized-linen-shirt": "active",
        "canvas-tote": "active",
        "silk-scrunchie-set": "draft",
        "old-cap": "archived",
    }
    cap = next(r for r in rows if r["Handle"] == "old-cap")
    assert (cap["Option1 Name"], cap["Option1 Value"], cap["Variant Price"]) == (
        "Title",
        "Default Title",
        "9.99",
    )


def test_export_then_import_into_another_shop_gives_the_same_products(shop, other_shop):
    import_file(shop)
    text = "".join(export_products_csv(shop=shop))

    report = import_products_csv(
        shop=other_shop, by=other_shop.owner, file=io.BytesIO(text.encode("utf-8"))
    )

    assert report.errors == []
    assert snapshot(other_shop) == snapshot(shop)


def test_export_then_reimport_into_the_same_shop_changes_nothing(shop):
    import_file(shop)
    before_data, before_counts = snapshot(shop), row_counts()
    text = "".join(export_products_csv(shop=shop))

    report = import_products_csv(shop=shop, by=shop.owner, file=io.StringIO(text))

    assert report.errors == []
    assert (report.products_created, report.variants_created, report.images_added) == (0, 0, 0)
    assert snapshot(shop) == before_data
    assert row_counts() == before_counts


def test_export_links_uploaded_images_by_full_address(shop):
    product = ProductFactory(shop=shop, handle="mug")
    VariantFactory(product=product)
    image = ProductImageFactory(product=product, alt_text="A mug")

    rows = exported_rows(shop, base_url="http://testserver/")

    assert rows[0]["Image Src"] == f"http://testserver{image.image.url}"
    assert rows[0]["Image Alt Text"] == "A mug"


@pytest.mark.parametrize(
    "value", ["=SUM(A1)", "+1 555 0100", "-20% off", "@home", "\tTabbed", "\rReturned"]
)
def test_export_neutralises_cells_a_spreadsheet_would_run_as_a_formula(shop, value):
    product = ProductFactory(shop=shop, handle="deal", title=value, vendor=value)
    VariantFactory(product=product, sku="DEAL-1", option1="")

    row = exported_rows(shop)[0]

    assert row["Title"] == f"'{value}"
    assert row["Vendor"] == f"'{value}"


def test_export_leaves_ordinary_cells_as_they_are(shop):
    product = ProductFactory(shop=shop, handle="mug", title="Mug 2 = fun", vendor="'Quoted'")
    VariantFactory(product=product, sku="MUG-1", option1="", price_amount=850)

    row = exported_rows(shop)[0]

    assert (row["Title"], row["Vendor"], row["Variant Price"]) == (
        "Mug 2 = fun",
        "'Quoted'",
        "8.50",
    )


def test_export_then_import_gives_back_titles_that_start_like_a_formula(shop, other_shop):
    titles = {
        "sum": "=SUM(A1)",
        "sale": "-20% off",
        "plus": "+1 deal",
        "at": "@home",
        "quoted": "'=already quoted",
        "plain-quote": "'tis the season",
    }
    for handle, title in titles.items():
        product = ProductFactory(shop=shop, handle=handle, title=title, vendor=title)
        VariantFactory(product=product, sku=f"{handle}-1", option1="")
    text = "".join(export_products_csv(shop=shop))

    report = import_products_csv(shop=other_shop, by=other_shop.owner, file=io.StringIO(text))

    assert report.errors == []
    got = {p.handle: (p.title, p.vendor) for p in other_shop.products.all()}
    assert got == {handle: (title, title) for handle, title in titles.items()}


# --- dashboard pages -----------------------------------------------------------------------


def upload(path=GOOD, name=None):
    return SimpleUploadedFile(name or path.name, path.read_bytes(), content_type="text/csv")


def test_import_page_shows_the_upload_form(client, shop):
    client.force_login(shop.owner)

    response = client.get(reverse("shops:dashboard-import"))

    assert response.status_code == 200
    body = response.content.decode()
    assert 'enctype="multipart/form-data"' in body
    assert 'type="file"' in body
    assert f"{shop.slug}-products.csv" in body


def run_queued_imports() -> None:
    """What the Celery worker does with each queued import (tests/test_csv_jobs.py runs a
    real worker; here the page's transaction never commits, so nothing is sent to one)."""
    for job in ProductImport.objects.filter(status=ProductImport.Status.QUEUED):
        run_import(import_id=job.pk)


def test_uploading_a_good_file_imports_it_and_shows_the_counts(client, shop):
    client.force_login(shop.owner)

    response = client.post(reverse("shops:dashboard-import"), {"file": upload()})
    run_queued_imports()

    assert response.status_code == 302
    response = client.get(response["Location"])
    assert response.status_code == 200
    body = response.content.decode()
    assert "Imported: 3 products created, 0 updated." in body
    assert '<th scope="row">Variants created</th><td>9</td>' in body
    assert shop.products.count() == 3


def test_uploading_a_bad_file_lists_the_rows_and_imports_nothing(client, shop):
    client.force_login(shop.owner)
    before = row_counts()

    response = client.post(reverse("shops:dashboard-import"), {"file": upload(BAD)})
    run_queued_imports()

    body = client.get(response["Location"]).content.decode()
    assert "Nothing was imported" in body
    assert "<td>5</td>" in body
    assert "Variant Compare At Price" in body
    assert "SKU HOOD-S is already used on row 2." in body
    assert "Fix 12 problems" in body
    assert row_counts() == before


def test_uploading_a_file_that_is_not_csv_is_refused(client, shop):
    client.force_login(shop.owner)
    file = SimpleUploadedFile("products.xlsx", b"PK\x03\x04", content_type="application/zip")

    response = client.post(reverse("shops:dashboard-import"), {"file": file})

    assert response.status_code == 400
    assert "Choose a .csv file." in response.content.decode()
    assert not shop.products.exists()


def test_uploading_a_file_over_the_limit_is_refused(client, shop, settings):
    settings.CSV_IMPORT_MAX_BYTES = 1024
    client.force_login(shop.owner)

    response = client.post(reverse("shops:dashboard-import"), {"file": upload()})

    assert response.status_code == 400
    assert "the limit is" in response.content.decode()
    assert not shop.products.exists()


def test_export_downloads_the_shops_products_as_csv(client, shop, other_shop):
    import_file(shop)
    VariantFactory(product=ProductFactory(shop=other_shop, handle="not-mine"))
    client.force_login(shop.owner)

    response = client.get(reverse("shops:dashboard-export"))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="{shop.slug}-products.csv"'
    text = b"".join(response.streaming_content).decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert len(rows) == 10
    assert {r["Handle"] for r in rows} == {
        "oversized-linen-shirt",
        "canvas-tote",
        "silk-scrunchie-set",
    }


@pytest.mark.parametrize("name", ["shops:dashboard-import", "shops:dashboard-export"])
def test_anonymous_visitor_is_sent_to_log_in(client, db, name):
    response = client.get(reverse(name))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("name", ["shops:dashboard-import", "shops:dashboard-export"])
def test_shopper_is_refused(client, shopper, name):
    client.force_login(shopper)

    assert client.get(reverse(name)).status_code == 403


def test_shopper_cannot_post_an_import(client, shopper, shop):
    client.force_login(shopper)

    response = client.post(reverse("shops:dashboard-import"), {"file": upload()})

    assert response.status_code == 403
    assert not ProductImport.objects.exists()
    assert not Product.objects.exists()


@pytest.mark.parametrize("name", ["shops:dashboard-import", "shops:dashboard-export"])
def test_creator_without_a_shop_is_sent_to_the_dashboard(client, creator, name):
    client.force_login(creator)

    response = client.get(reverse(name))

    assert response.status_code == 302
    assert response["Location"] == reverse("shops:dashboard")


def test_another_creator_imports_into_their_own_shop_only(client, shop, other_shop):
    client.force_login(other_shop.owner)

    client.post(reverse("shops:dashboard-import"), {"file": upload()})
    run_queued_imports()

    assert not shop.products.exists()
    assert other_shop.products.count() == 3


# --- management commands -------------------------------------------------------------------


def test_import_command_imports_a_good_file(shop):
    out = io.StringIO()

    call_command("import_products", str(GOOD), shop=shop.slug, stdout=out)

    assert "3 products created" in out.getvalue()
    assert Variant.objects.filter(shop=shop).count() == 9


def test_import_command_prints_row_errors_and_fails_on_a_bad_file(shop):
    err = io.StringIO()
    before = row_counts()

    with pytest.raises(CommandError, match="12 problem"):
        call_command("import_products", str(BAD), shop=shop.slug, stderr=err)

    assert "Row 3, Variant Price:" in err.getvalue()
    assert "Row 12, Handle: Every row needs a Handle." in err.getvalue()
    assert row_counts() == before


def test_import_command_refuses_an_unknown_shop(db):
    with pytest.raises(CommandError, match="No shop"):
        call_command("import_products", str(GOOD), shop="nope")


def test_export_command_writes_the_file(shop, tmp_path):
    import_file(shop)
    target = tmp_path / "out.csv"

    call_command("export_products", shop=shop.slug, output=str(target), stderr=io.StringIO())

    rows = read_rows(target)
    assert len(rows) == 10
    assert rows[0]["Handle"] == "oversized-linen-shirt"
    assert rows[0]["Variant Price"] == "39.00"


def test_export_command_prints_to_stdout(shop):
    import_file(shop)
    out = io.StringIO()

    call_command("export_products", shop=shop.slug, stdout=out)

    assert out.getvalue().startswith(",".join(COLUMNS[:3]))
    assert out.getvalue().count("\n") == 11


def test_format_amount_writes_two_decimals():
    assert [format_amount(a) for a in (3900, 1, 1999, None)] == [
        "39.00",
        "0.01",
        "19.99",
        "",
    ]
