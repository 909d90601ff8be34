"""CSV imports as Celery jobs: the stored upload, the progress page, the report, a real
worker, and the bulk write of a large file."""

import csv
import io
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from shops.csv_format import COLUMNS
from shops.csv_import import import_products_csv
from shops.csv_import.jobs import queue_import, run_import
from shops.models import Category, Product, ProductImage, ProductImport, Tag, Variant
from shops.tests.test_csv import BAD, GOOD, row_counts, upload

IMPORT = reverse("shops:dashboard-import")


def detail_url(job):
    return reverse("shops:dashboard-import-detail", kwargs={"pk": job.pk})


def status_url(job):
    return reverse("shops:dashboard-import-status", kwargs={"pk": job.pk})


def products_csv(count: int, *, start: int = 0) -> bytes:
    """`count` new products, one variant, a category, two tags and an image each."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for n in range(start, start + count):
        writer.writerow(
            {
                "Handle": f"item-{n}",
                "Title": f"Item {n}",
                "Body (HTML)": f"<p>Item number {n}.</p>",
                "Type": f"Type {n % 7}",
                "Tags": f"bulk, group-{n % 5}",
                "Variant SKU": f"ITEM-{n}",
                "Variant Inventory Qty": str(n % 30),
                "Variant Price": f"{5 + n % 50}.{n % 100:02d}",
                "Image Src": f"https://cdn.example.com/items/{n}.jpg",
                "Status": "active",
            }
        )
    return buf.getvalue().encode("utf-8")


@pytest.fixture
def owner_client(client, shop):
    client.force_login(shop.owner)
    return client


# --- the upload and its page ---------------------------------------------------------------


def test_upload_is_stored_and_queued_and_its_page_polls_for_progress(owner_client, shop):
    response = owner_client.post(IMPORT, {"file": upload()})

    job = ProductImport.objects.get()
    assert response.status_code == 302
    assert response["Location"] == detail_url(job)
    assert (job.shop, job.created_by, job.status) == (shop, shop.owner, "queued")
    assert job.file_name == GOOD.name
    with job.file.open("rb") as stored:
        assert stored.read() == GOOD.read_bytes()
    assert not shop.products.exists()  # nothing is written before the worker runs it
    body = owner_client.get(detail_url(job)).content.decode()
    assert f'hx-get="{status_url(job)}"' in body
    assert 'hx-trigger="every 1s"' in body
    assert "Waiting for its turn" in body


def test_status_shows_how_many_rows_are_checked(owner_client, shop):
    job = queue_import(shop=shop, by=shop.owner, file=upload())
    ProductImport.objects.filter(pk=job.pk).update(status="running", rows_total=10, rows_checked=4)

    response = owner_client.get(status_url(job))

    assert response.status_code == 200
    body = response.content.decode()
    assert "Checked 4 of 10 rows" in body
    assert 'value="4" max="10"' in body
    assert 'hx-trigger="every 1s"' in body


def test_finished_import_stops_polling_and_shows_what_was_created(owner_client, shop):
    job = queue_import(shop=shop, by=shop.owner, file=upload())

    run_import(import_id=job.pk)

    job.refresh_from_db()
    assert (job.status, job.rows_checked, job.rows_total) == ("done", 10, 10)
    assert job.report["products_created"] == 3
    assert job.report["errors"] == []
    body = owner_client.get(status_url(job)).content.decode()
    assert "hx-get" not in body
    assert "Imported: 3 products created, 0 updated." in body
    assert '<th scope="row">Images added</th><td>5</td>' in body


def test_a_file_with_a_bad_row_writes_nothing_and_the_report_lists_each_row(owner_client, shop):
    before = row_counts()
    job = queue_import(shop=shop, by=shop.owner, file=upload(BAD))

    run_import(import_id=job.pk)

    job.refresh_from_db()
    assert job.status == "failed"
    assert [(e["row"], e["column"]) for e in job.report["errors"]][:2] == [
        (3, "Variant Price"),
        (4, "Variant Price"),
    ]
    assert row_counts() == before
    body = owner_client.get(status_url(job)).content.decode()
    assert "Nothing was imported" in body
    assert "Fix 12 problems" in body
    assert "hx-get" not in body


def test_running_a_finished_import_again_changes_nothing(shop):
    job = queue_import(shop=shop, by=shop.owner, file=upload())
    run_import(import_id=job.pk)
    Product.objects.filter(shop=shop, handle="canvas-tote").update(title="Renamed since")

    run_import(import_id=job.pk)  # a redelivered task

    assert shop.products.count() == 3
    assert shop.products.get(handle="canvas-tote").title == "Renamed since"


def test_another_creator_cannot_see_your_import(client, shop, other_shop):
    job = queue_import(shop=shop, by=shop.owner, file=upload())
    client.force_login(other_shop.owner)

    assert client.get(detail_url(job)).status_code == 404
    assert client.get(status_url(job)).status_code == 404


def test_anonymous_visitor_cannot_see_an_import(client, shop):
    job = queue_import(shop=shop, by=shop.owner, file=upload())

    response = client.get(status_url(job))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


# --- a real worker -------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.services
def test_real_worker_imports_an_upload_and_the_page_shows_the_report(celery_worker, client, shop):
    client.force_login(shop.owner)
    file = SimpleUploadedFile("big.csv", products_csv(300), content_type="text/csv")

    response = client.post(IMPORT, {"file": file})
    assert response.status_code == 302
    job = ProductImport.objects.get()

    deadline = time.monotonic() + 60
    body = client.get(status_url(job)).content.decode()
    while "hx-get" in body and time.monotonic() < deadline:
        time.sleep(0.3)
        body = client.get(status_url(job)).content.decode()

    assert "Imported: 300 products created, 0 updated." in body, celery_worker.output()[-2000:]
    assert '<th scope="row">Variants created</th><td>300</td>' in body
    assert Product.objects.filter(shop=shop, status="active").count() == 300


# --- bulk writes ---------------------------------------------------------------------------


def test_five_thousand_products_are_imported_with_their_variants_tags_and_images(shop):
    report = import_products_csv(shop=shop, by=shop.owner, file=io.BytesIO(products_csv(5000)))

    assert report.errors == []
    assert (report.products_created, report.variants_created, report.images_added) == (
        5000,
        5000,
        5000,
    )
    assert shop.products.filter(status="active").count() == 5000
    assert Variant.objects.filter(shop=shop).count() == 5000
    assert ProductImage.objects.filter(product__shop=shop).count() == 5000
    assert Category.objects.count() == 7
    assert Tag.objects.count() == 6
    last = shop.products.get(handle="item-4999")
    assert last.tab_position == 5000
    assert sorted(t.name for t in last.tags.all()) == ["bulk", "group-4"]
    assert (last.variants.get().sku, last.variants.get().price_amount) == ("ITEM-4999", 5499)
    assert last.category.name == "Type 1"


def test_import_of_two_hundred_products_takes_a_bounded_number_of_queries(
    shop, django_assert_max_num_queries
):
    # Written row by row, the count grew with every product; batched, 200 products take
    # about as many as 20 (about 15 on PostgreSQL; SQLite's smaller batches add a few).
    with django_assert_max_num_queries(30):
        import_products_csv(shop=shop, by=shop.owner, file=io.BytesIO(products_csv(20)))
    with django_assert_max_num_queries(30):
        report = import_products_csv(
            shop=shop, by=shop.owner, file=io.BytesIO(products_csv(200, start=20))
        )
    assert report.products_created == 200


def test_reimport_of_two_hundred_products_updates_them_in_a_bounded_number_of_queries(
    shop, django_assert_max_num_queries
):
    data = products_csv(200)
    import_products_csv(shop=shop, by=shop.owner, file=io.BytesIO(data))
    changed = data.replace(b"<p>Item number", b"<p>Product number")

    with django_assert_max_num_queries(40):
        report = import_products_csv(shop=shop, by=shop.owner, file=io.BytesIO(changed))

    assert (report.products_updated, report.variants_updated) == (200, 200)
    assert shop.products.get(handle="item-7").description == "Product number 7."
