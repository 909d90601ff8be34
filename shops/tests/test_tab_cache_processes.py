"""The cached shopping tab across web processes: each gunicorn process keeps its own copy of a
rendered page (shops/tab_cache.py), and a write made anywhere (another process, a service in
a third) shows in every process at the next request."""

import json
import sys
import urllib.request

import pytest
from django.conf import settings
from rest_framework.authtoken.models import Token

from shopfeed.testing import Process, child_env, free_port, wait_for_port
from shops import services
from shops.tests.factories import ProductFactory, ShopFactory, VariantFactory

pytestmark = [pytest.mark.postgres, pytest.mark.services]


@pytest.fixture
def two_servers(transactional_db, tmp_path):
    if not settings.REDIS_URL:
        pytest.fail("the per-process copies are kept only with Redis: set REDIS_URL")
    env = child_env(
        SHOPPING_TAB_CACHE_PREFIX=settings.SHOPPING_TAB_CACHE_PREFIX, LOG_LEVEL="WARNING"
    )
    servers, bases = [], []
    try:
        for n in range(2):
            port = free_port()
            args = [
                sys.executable, "-m", "gunicorn", "shopfeed.wsgi:application",
                "--workers", "1", "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
            ]  # fmt: skip
            servers.append(Process(args, env, tmp_path / f"gunicorn-{n}.log"))
            bases.append(f"http://127.0.0.1:{port}")
            wait_for_port(port, timeout=60)
        yield bases
    finally:
        for server in servers:
            server.stop()


def _call(url: str, *, method: str = "GET", body: dict | None = None, token: str = "") -> dict:
    headers = {"Accept": "application/json", "Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _cards(base: str, handle: str) -> list[tuple[str, int, bool]]:
    page = _call(f"{base}/api/v1/creators/{handle}/shopping-tab/")
    return [(c["title"], c["min_price_amount"], c["in_stock"]) for c in page["results"]]


def test_a_change_made_anywhere_shows_in_every_process_at_the_next_request(two_servers):
    a, b = two_servers
    shop = ShopFactory()
    product = ProductFactory(shop=shop, title="Linen Shirt")
    variant = VariantFactory(product=product, price_amount=1500, quantity=3)
    handle = shop.owner.handle
    token = Token.objects.create(user=shop.owner).key
    for base in (a, b, a, b):  # each process renders or copies the page, then serves its copy
        assert _cards(base, handle) == [("Linen Shirt", 1500, True)]

    # A service in this (third) process.
    services.save_variant(product=product, by=shop.owner, variant=variant, price_amount=990)
    assert _cards(a, handle) == [("Linen Shirt", 990, True)]
    assert _cards(b, handle) == [("Linen Shirt", 990, True)]

    # The owner's API call served by one process; the other process's copy is stale at once.
    _call(f"{a}/api/v1/products/{product.pk}/variants/{variant.pk}/", method="PATCH",
          body={"quantity": 0}, token=token)  # fmt: skip
    assert _cards(b, handle) == [("Linen Shirt", 990, False)]
    assert _cards(a, handle) == [("Linen Shirt", 990, False)]

    _call(f"{b}/api/v1/products/{product.pk}/", method="PATCH", body={"title": "Wool Shirt"},
          token=token)  # fmt: skip
    assert _cards(a, handle) == [("Wool Shirt", 990, False)]
    assert _cards(b, handle) == [("Wool Shirt", 990, False)]
