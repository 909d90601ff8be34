"""Shared fixtures. Service checks live here so that `make test` on a bare machine says
which tests it could not run and why, while CI (SHOPFEED_REQUIRE_SERVICES=1) fails instead."""

import os

import pytest
from django.db import connection

from shopfeed.accounts.tests.factories import CreatorFactory, UserFactory
from shops.tests.factories import ShopFactory

REQUIRE_SERVICES = os.environ.get("SHOPFEED_REQUIRE_SERVICES") == "1"


def _missing(reason: str):
    if REQUIRE_SERVICES:
        pytest.fail(f"required service missing: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _require_marked_services(request):
    if request.node.get_closest_marker("postgres") and connection.vendor != "postgresql":
        _missing("needs PostgreSQL: set DATABASE_URL=postgres://... (CI does)")


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
