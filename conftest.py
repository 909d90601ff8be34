"""Shared fixtures. Service checks live here so that `make test` on a bare machine says
which tests it could not run and why, while CI (SHOPFEED_REQUIRE_SERVICES=1) fails instead."""

import os
import uuid
from contextlib import contextmanager

import pytest
from django.db import connection

from shopfeed.accounts.tests.factories import CreatorFactory, UserFactory
from shopfeed.testing import close_context_local_connections
from shops.tests.factories import ShopFactory

REQUIRE_SERVICES = os.environ.get("SHOPFEED_REQUIRE_SERVICES") == "1"


def _missing(reason: str):
    if REQUIRE_SERVICES:
        pytest.fail(f"required service missing: {reason}", pytrace=False)
    pytest.skip(reason)


def pytest_collection_modifyitems(config, items):
    """Tests that start real processes (`services`: servers, workers, browsers) run first.

    A stable sort, so each module keeps its own order. Under `make test` (`-n 2 --dist
    worksteal`) the long tests then run while both workers still have plenty queued, and the
    run ends on short tests an idle worker can take over, rather than on one worker finishing
    a minute-long test while the other waits. `-n 0` runs in the same order.
    """
    items.sort(key=lambda item: item.get_closest_marker("services") is None)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The test database commits without waiting for its WAL to reach the disk.

    `synchronous_commit = off` gives up durability only if PostgreSQL itself crashes (a
    committed transaction may be lost, never half-kept), which no test does; what every test
    sees (visibility, locks, atomicity) is unchanged. Commits are most of the wait in tests
    that commit (transactional tests, and the servers and workers they start, which inherit
    it as the database's default): ~3-8 ms each against ~0.3 ms on this machine.
    """
    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        name = connection.ops.quote_name(connection.settings_dict["NAME"])
        cursor.execute(f"ALTER DATABASE {name} SET synchronous_commit = off")
        cursor.execute("SET synchronous_commit = off")


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    # Hashing strength is not under test; PBKDF2 would cost ~0.3 s a user.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _no_rate_limit_history():
    """Throttle counts, login lockouts and socket-connect counts start empty in every test.

    They live in the shared `ratelimit` cache (Redis when REDIS_URL is set, where the room
    server reads them too): only its keys are dropped, not the rest of the database.
    """
    from django.core.cache.backends.redis import RedisCache

    from shopfeed.throttling import ratelimit_cache

    cache = ratelimit_cache()
    if isinstance(cache, RedisCache):
        client = cache._cache.get_client(write=True)
        keys = list(client.scan_iter(f"{cache.key_prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    else:
        cache.clear()


@pytest.fixture(autouse=True)
def _flash_keys_of_this_test(settings):
    """Flash-sale counts in Redis (orders.flash) under a prefix of this test's own: row ids
    repeat across test databases, and a count left by another test must never be read."""
    from live.selling.flash import forget_cached_offers
    from orders.flash import services as flash

    settings.FLASH_KEY_PREFIX = f"flash-{uuid.uuid4().hex[:12]}:"
    # The shopping tab's cached pages too (shops/tab_cache.py).
    settings.SHOPPING_TAB_CACHE_PREFIX = f"tab-{uuid.uuid4().hex[:12]}"
    # Each reservation is written by the request that made it (orders/tests/test_flash.py
    # runs the real writer beside the buyers instead).
    settings.FLASH_WRITE_INLINE = True
    # No per-process caching of what the hot path checks: tests change rows and buy at once.
    settings.FLASH_FACTS_SECONDS = 0
    flash.forget_cached_facts()
    forget_cached_offers()


@pytest.fixture(autouse=True)
def _require_marked_services(request):
    if request.node.get_closest_marker("postgres") and connection.vendor != "postgresql":
        _missing("needs PostgreSQL: set DATABASE_URL=postgres://... (CI does)")


@pytest.fixture
def redis_url():
    url = os.environ.get("REDIS_URL", "")
    if not url:
        _missing("needs Redis: set REDIS_URL=redis://127.0.0.1:6379/9 (CI does)")
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        _missing(f"Redis at {url} is not answering: {exc}")
    return url


@pytest.fixture
def flash_redis(redis_url, settings):
    """The flash keys of this test only (a prefix of its own), removed afterwards."""
    from orders.flash import services as flash
    from orders.flash import store

    settings.FLASH_REDIS_URL = redis_url
    settings.FLASH_KEY_PREFIX = f"flash-{uuid.uuid4().hex[:8]}:"
    settings.FLASH_WRITE_INLINE = False  # the writer runs on its own here, as in production
    settings.FLASH_FACTS_SECONDS = 1.0  # and crowds of buyers share what the hot path checks
    flash.forget_cached_facts()
    r = store.client()
    yield r
    keys = list(r.scan_iter(f"{settings.FLASH_KEY_PREFIX}*", count=1000))
    if keys:
        r.delete(*keys)
    flash.forget_cached_facts()


@pytest.fixture
def celery_worker(transactional_db, redis_url, tmp_path, settings):
    """A real Celery worker process over Redis, on a queue of its own, sharing the test DB."""
    if connection.vendor != "postgresql":
        _missing("a real worker shares the test database only on PostgreSQL (set DATABASE_URL)")
    from shopfeed.celery import app
    from shopfeed.testing import start_celery_worker

    queue = f"test-{uuid.uuid4().hex[:8]}"
    old = (app.conf.broker_url, app.conf.task_default_queue, app.conf.task_always_eager)
    app.conf.update(broker_url=redis_url, task_default_queue=queue, task_always_eager=False)
    _reset_broker_pools(app)
    worker = start_celery_worker(
        broker_url=redis_url, queue=queue, log_path=tmp_path / "worker.log"
    )
    try:
        yield worker
    finally:
        worker.stop()
        app.conf.update(broker_url=old[0], task_default_queue=old[1], task_always_eager=old[2])
        _reset_broker_pools(app)


def _reset_broker_pools(app):
    # Connections and producers are pooled per broker URL (kombu keeps a global registry);
    # drop them all so the next send uses the URL just configured.
    from kombu import pools

    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture(scope="session")
def _localstripe_server(tmp_path_factory):
    from shopfeed.testing import start_localstripe

    proc, url = start_localstripe(log_path=tmp_path_factory.mktemp("localstripe") / "log")
    yield url
    proc.stop()


@pytest.fixture
def localstripe(_localstripe_server, settings):
    """The Stripe SDK pointed at a real localstripe on loopback (its data is shared)."""
    settings.STRIPE_API_BASE = _localstripe_server
    settings.STRIPE_SECRET_KEY = "sk_test_shopfeed"  # noqa: S105 - localstripe accepts any
    settings.STRIPE_JS_URL = f"{_localstripe_server}/js.stripe.com/v3/"
    return _localstripe_server


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextmanager
def _chromium():
    if not os.path.exists(CHROMIUM):
        _missing(f"needs Debian's chromium at {CHROMIUM} (apt-get install chromium; CI does)")
    # Playwright's sync API runs an event loop in this thread; Django's DB calls from the
    # test body are still synchronous and safe.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def browser():
    """Debian's chromium driven by Playwright (its own browser download cannot work here).

    One per test: Playwright's sync API keeps an asyncio loop running in this thread while
    it is open, which would break later tests that call asyncio.run(). A module whose tests
    only drive pages may share one instead (`module_browser`).
    """
    with _chromium() as b:
        yield b
        close_context_local_connections()


@pytest.fixture(scope="module")
def module_browser():
    """One chromium for a whole module (~2-4 s a launch saved per test). Only for a module
    none of whose tests calls asyncio.run() in this thread; each test takes its own context
    (`browser.new_context()`), so no cookie or page is shared. Use it through a `browser`
    fixture of the module's own that closes the test's connections (see
    live/tests/test_accessibility.py)."""
    with _chromium() as b:
        yield b


@pytest.fixture
def shopper(db):
    return UserFactory(handle="shopper", username="shopper")


@pytest.fixture
def creator(db):
    return CreatorFactory()


@pytest.fixture
def shop(creator):
    return ShopFactory(owner=creator)


@pytest.fixture
def other_shop(db):
    return ShopFactory()
