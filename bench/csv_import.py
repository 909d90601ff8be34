"""`python -m bench.csv_import [--products N]`: time a Shopify CSV import on PostgreSQL.

Builds a file of N new products (one variant, a category, two tags and an image each; the
size of a 5,000-product Shopify export is about 350 KB), imports it into a fresh bench shop
through the same service the Celery job runs, then imports it again (every product and
variant updated). Prints the file size and the seconds each import took: wall clock, and
the CPU this process used (the rest is PostgreSQL, and waiting for a CPU on a busy machine).
Uses the bench's own database (BENCH_DATABASE_URL, see bench/README.md), never the
development one.
"""

import argparse
import csv
import io
import os
import sys
import time

HANDLE = "benchimporter"


def build_csv(products: int) -> bytes:
    from shops.csv_format import COLUMNS

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for n in range(products):
        writer.writerow(
            {
                "Handle": f"bench-product-{n}",
                "Title": f"Bench product {n}",
                "Body (HTML)": f"<p>Product {n}, made for the import bench.</p>",
                "Vendor": "Bench",
                "Type": f"Type {n % 20}",
                "Tags": f"bench, batch-{n % 50}",
                "Published": "TRUE",
                "Variant SKU": f"BENCH-{n}",
                "Variant Inventory Qty": str(n % 40),
                "Variant Price": f"{10 + n % 90}.{n % 100:02d}",
                "Image Src": f"https://cdn.example.com/bench/{n}.jpg",
                "Image Position": "1",
                "Status": "active",
            }
        )
    return buf.getvalue().encode("utf-8")


def fresh_shop():
    from shopfeed.accounts.models import User
    from shops.models import Shop
    from shops.services import open_shop

    Shop.objects.filter(owner__handle=HANDLE).delete()
    User.objects.filter(handle=HANDLE).delete()
    owner = User.objects.create_user(username=HANDLE, handle=HANDLE, is_creator=True)
    return open_shop(owner=owner, name="Import bench", slug="import-bench")


def timed_import(shop, data: bytes):
    from shops.csv_import import import_products_csv

    started, cpu = time.perf_counter(), time.process_time()
    report = import_products_csv(shop=shop, by=shop.owner, file=io.BytesIO(data))
    return time.perf_counter() - started, time.process_time() - cpu, report


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.csv_import", description=__doc__)
    p.add_argument("--products", type=int, default=int(os.environ.get("BENCH_PRODUCTS", 5000)))
    args = p.parse_args(argv)

    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    import django

    django.setup()
    from django.core.management import call_command

    from bench.server import ensure_database

    ensure_database()
    call_command("migrate", interactive=False, verbosity=0)

    data = build_csv(args.products)
    shop = fresh_shop()
    print(f"file: {args.products} products, one variant each, {len(data) / 1024:.0f} KB")
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for label in ("first import (all created)", "second import (all updated)"):
        seconds, cpu, report = timed_import(shop, data)
        if report.errors:
            print(f"{label}: FAILED: {report.errors[:3]}")
            return 1
        print(
            f"{label}: {seconds:.2f} s ({cpu:.2f} s CPU here); "
            f"products {report.products_created} created, "
            f"{report.products_updated} updated; variants {report.variants_created} created, "
            f"{report.variants_updated} updated; images {report.images_added} added"
        )
    fresh_shop()  # leave no bench rows behind but the empty shop
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
