"""The shopping-tab API under concurrent load, beside a bare DRF list of the same rows.

Seeds one creator with active products (3 variants and 1 image row each) plus some noise
(drafts, archived, another shop), serves the project on gunicorn with 2 sync workers on
PostgreSQL, and loads the tab's first page and the bare list's first page in the same run.
The ratio says what the tab's annotations, joins and richer cards cost per request.
"""

import os
import statistics

from django.db import connection, transaction

from bench.load import BenchError, Expect, LoadResult, expect_for, item_ids, merge, run_load
from bench.server import gunicorn

HANDLE = "benchcreator"
OTHER_HANDLE = "benchother"
PAGE_SIZE = 20
TAB_PATH = "/api/v1/creators/{handle}/shopping-tab/"
BARE_PATH = "/bench/bare-products/{handle}/"


def seed(*, products: int) -> None:
    """Replace the bench creators' rows (and only those) with a fresh, known set."""
    from shopfeed.accounts.models import User
    from shops import tab_cache
    from shops.models import Category, Product, ProductImage, Shop, Variant
    from shops.services import open_shop

    with transaction.atomic():
        Shop.objects.filter(owner__handle__in=[HANDLE, OTHER_HANDLE]).delete()
        User.objects.filter(handle__in=[HANDLE, OTHER_HANDLE]).delete()
        categories = [
            Category.objects.get_or_create(slug=f"bench-{n}", defaults={"name": f"Bench {n}"})[0]
            for n in range(5)
        ]
        for handle, active in ((HANDLE, products), (OTHER_HANDLE, products // 2)):
            owner = User.objects.create_user(username=handle, handle=handle, is_creator=True)
            shop = open_shop(owner=owner, name=f"{handle} shop", slug=f"{handle}-shop")
            # Drafts and archived rows are there so the tab's filter has something to skip.
            statuses = (
                [Product.Status.ACTIVE] * active
                + [Product.Status.DRAFT] * (active // 10)
                + [Product.Status.ARCHIVED] * (active // 10)
            )
            rows = Product.objects.bulk_create(
                Product(
                    shop=shop,
                    handle=f"product-{i}",
                    title=f"Bench product {i}",
                    description="A thing to buy while the stream is on. " * 4,
                    vendor="Bench Co",
                    product_type="Shirt",
                    category=categories[i % len(categories)],
                    status=status,
                    option1_name="Size",
                    is_featured=i < 4,
                    tab_position=i,
                    sold_count=i * 7 % 50,
                )
                for i, status in enumerate(statuses)
            )
            Variant.objects.bulk_create(
                Variant(
                    product=p,
                    shop=shop,
                    currency=shop.currency,
                    sku=f"{p.handle}-{size}",
                    option1=size,
                    price_amount=1500 + 100 * n + p.tab_position,
                    compare_at_amount=2500 + p.tab_position if n == 0 else None,
                    quantity=0 if (p.tab_position + n) % 5 == 0 else 10 + n,
                    position=n,
                )
                for p in rows
                for n, size in enumerate(("S", "M", "L"))
            )
            ProductImage.objects.bulk_create(
                ProductImage(
                    product=p,
                    image=f"products/bench/{p.handle}.jpg",  # a name only; nothing reads it
                    alt_text=p.title,
                    position=0,
                )
                for p in rows
            )
            tab_cache.changed(shop.pk)  # bulk writes: no cached page of this shop is kept
    with connection.cursor() as cursor:
        # Autovacuum is off on this PostgreSQL: without statistics the plans (the bare list's
        # above all) are guesses and the ratio swung from 0.13x to 1.53x between runs.
        cursor.execute("ANALYZE")


def plan_shapes() -> list[str]:
    """The node types of each first page's plan (EXPLAIN), as a check on what is measured."""
    import re

    from rest_framework.test import APIRequestFactory

    from bench.urls import BareProductList
    from shops import selectors
    from shops.models import Shop

    shop = Shop.objects.get(owner__handle=HANDLE)
    view = BareProductList()
    view.kwargs = {"handle": HANDLE}
    view.request = APIRequestFactory().get("/")
    queries = {
        "tab page (on a cache miss)": selectors.shopping_tab_for(shop=shop)[:PAGE_SIZE],
        "bare list page": view.get_queryset()[:PAGE_SIZE],
    }
    lines = []
    for name, qs in queries.items():
        nodes = re.findall(r"(?:->\s+|^)([A-Z][A-Za-z ]+?)(?:\s+on\s+(\w+))?\s+\(", qs.explain(),
                           flags=re.M)  # fmt: skip
        shape = ", ".join(f"{node.strip()}{f' {table}' if table else ''}" for node, table in nodes)
        lines.append(f"plan of the {name}: {shape}")
    return lines


def run(
    *, client: str, concurrency: int, duration: float, warmup: float, rounds: int, products: int
):
    """Load both endpoints in alternating rounds (tab-bare, bare-tab, ...), so that whatever
    else the machine is doing at the time weighs on both alike."""
    if products < PAGE_SIZE:
        raise ValueError(f"need at least {PAGE_SIZE} products for a full first page")
    from django.conf import settings

    seed(products=products)
    shapes = plan_shapes()
    targets = {
        "shopping-tab API": TAB_PATH.format(handle=HANDLE),
        "bare DRF list": BARE_PATH.format(handle=HANDLE),
    }
    names = list(targets)
    runs: dict[str, list[LoadResult]] = {name: [] for name in names}
    with gunicorn(workers=2, ready_path=targets["bare DRF list"]) as base_url:
        urls = {name: base_url + path for name, path in targets.items()}
        expects: dict[str, Expect] = {
            name: expect_for(url, items=PAGE_SIZE) for name, url in urls.items()
        }
        tab_ids, bare_ids = (item_ids(url) for url in urls.values())
        if tab_ids != bare_ids:
            raise BenchError(f"the two first pages differ: tab {tab_ids} vs bare {bare_ids}")

        def load(name: str, seconds: float) -> LoadResult:
            return run_load(
                name,
                urls[name],
                expect=expects[name],
                client=client,
                concurrency=concurrency,
                duration=seconds,
            )

        for name in names:  # warm both (imports, connections, caches) before measuring
            load(name, warmup)
        loads = []
        for n in range(rounds):
            for name in names if n % 2 == 0 else reversed(names):
                loads.append(os.getloadavg()[0])
                runs[name].append(load(name, duration / rounds))
        for url in urls.values():  # still right after the load?
            expect_for(url, items=PAGE_SIZE)
    tab, bare = (merge(runs[name]) for name in names)
    per_round = sorted(t.rps / b.rps for t, b in zip(*runs.values(), strict=True))
    cache = (
        "Redis: one Lua script a request counts it for the throttles and finds the page; "
        "the page's bytes come from this process's copy while the shop's version holds"
        if settings.REDIS_URL
        else settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
    )
    notes = [
        f"shopping-tab pages come from the cache ({cache}) behind the shop's version "
        f"(shops/tab_cache.py); nothing is written during the load, so these are cache hits",
        *shapes,
        f"load average before each round: median {statistics.median(loads):.2f} "
        f"(range {min(loads):.2f}-{max(loads):.2f}), {os.getloadavg()[0]:.2f} at the end",
        f"shopping-tab / bare: {tab.rps / bare.rps:.2f}x requests/s "
        f"(rounds {per_round[0]:.2f}-{per_round[-1]:.2f}), "
        f"{tab.p50_ms / bare.p50_ms:.2f}x p50, {tab.p99_ms / bare.p99_ms:.2f}x p99",
    ]
    return [tab, bare], notes
