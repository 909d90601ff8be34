"""Fixtures for tests that run the whole payment path: localstripe, the Connect transfers
stand-in in front of it, a real worker, webhooks."""

import uuid

import pytest
from django.conf import settings

from shopfeed.testing import free_port, localstripe_call

from .fake_connect import SECRET_KEY, FakeConnect


@pytest.fixture
def fake_connect(localstripe, settings):
    """The real stripe SDK pointed at a Stripe-compatible transfers server on loopback, which
    forwards every other path (PaymentIntents, refunds) to localstripe."""
    fake = FakeConnect(upstream=localstripe)
    settings.STRIPE_API_BASE = fake.start()
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    yield fake
    fake.stop()


@pytest.fixture
def stripe_env(localstripe, monkeypatch):
    """The worker process must reach the same Stripe as this one (localstripe, or the Connect
    stand-in in front of it when `fake_connect` was set up first)."""
    monkeypatch.setenv("STRIPE_API_BASE", settings.STRIPE_API_BASE)
    monkeypatch.setenv("STRIPE_SECRET_KEY", settings.STRIPE_SECRET_KEY)
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", settings.STRIPE_WEBHOOK_SECRET)
    # Playwright's sync API runs an event loop in this thread; our DB calls stay synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    return localstripe


@pytest.fixture
def worker(stripe_env, celery_worker):
    return celery_worker


@pytest.fixture
def stripe_webhooks_to(live_server, stripe_env):
    """localstripe posts its events, signed with our secret, to the live server."""
    name = f"test-{uuid.uuid4().hex[:8]}"
    localstripe_call(
        f"/_config/webhooks/{name}",
        {"url": f"{live_server.url}/stripe/webhook/", "secret": settings.STRIPE_WEBHOOK_SECRET},
    )
    yield live_server
    # localstripe cannot forget a webhook: point it at a closed port instead.
    localstripe_call(
        f"/_config/webhooks/{name}",
        {"url": f"http://127.0.0.1:{free_port()}/", "secret": settings.STRIPE_WEBHOOK_SECRET},
    )
