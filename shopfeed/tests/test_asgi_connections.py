"""The ASGI process holds a bounded number of database connections under load and gives
them back afterwards (DESIGN.md section 6: persistent connections are per thread, and ASGI
runs sync views in threads that come and go, so it uses a per-process pool instead)."""

import sys
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from shopfeed.testing import Process, child_env, free_port, wait_for_port
from shops.tests.factories import ProductFactory, ShopFactory, VariantFactory

pytestmark = [pytest.mark.postgres, pytest.mark.services]

POOL_MIN, POOL_MAX = 2, 6
REQUESTS, CONCURRENCY = 200, 20


def server_connections(app_name: str) -> int:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = %s",
            [app_name],
        )
        return cur.fetchone()[0]


@pytest.fixture
def uvicorn_server(transactional_db, tmp_path):
    shop = ShopFactory()
    for _ in range(5):
        VariantFactory(product=ProductFactory(shop=shop))
    app_name = f"shopfeed-test-{uuid.uuid4().hex[:8]}"
    port = free_port()
    env = child_env(
        DB_APPLICATION_NAME=app_name,
        PGAPPNAME=app_name,  # names the connections even where settings would not
        DB_POOL_MIN_SIZE=str(POOL_MIN),
        DB_POOL_MAX_SIZE=str(POOL_MAX),
        DB_POOL_MAX_IDLE="0.5",  # idle connections above the minimum close quickly here
        LOG_LEVEL="WARNING",
    )
    args = [
        sys.executable, "-m", "uvicorn", "shopfeed.asgi:application", "--host", "127.0.0.1",
        "--port", str(port), "--lifespan", "off", "--log-level", "warning",
    ]  # fmt: skip
    server = Process(args, env, tmp_path / "uvicorn.log")
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}", app_name, server
    finally:
        server.stop()


def test_asgi_server_keeps_its_connections_bounded_under_load_and_returns_them(uvicorn_server):
    base, app_name, server = uvicorn_server
    url = f"{base}/api/v1/products/?page_size=5"

    def get(_):
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                return response.status
        except Exception as exc:  # noqa: BLE001 - a refused request is what this test looks for
            return repr(exc)

    peak = 0
    done = threading.Event()

    def watch():
        nonlocal peak
        try:
            while not done.is_set():
                peak = max(peak, server_connections(app_name))
                time.sleep(0.05)
        finally:
            connection.close()  # this thread's own connection

    watcher = threading.Thread(target=watch)
    watcher.start()
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            results = list(pool.map(get, range(REQUESTS)))
    finally:
        done.set()
        watcher.join()
    load_seconds = time.monotonic() - started

    failed = [r for r in results if r != 200]
    log = server.output()[-2000:]
    assert not failed, f"{len(failed)} of {REQUESTS} failed, e.g. {failed[:3]}\n{log}"
    assert 0 < peak <= POOL_MAX, f"{peak} connections at the peak"
    print(f"{REQUESTS} requests in {load_seconds:.1f} s, peak {peak} connections")

    deadline = time.monotonic() + 15
    while (left := server_connections(app_name)) > POOL_MIN and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left <= POOL_MIN, f"{left} connections still open 15 s after the load"
