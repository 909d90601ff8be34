"""One ledger account per (kind, currency, owner), enforced by the database on SQLite and
PostgreSQL alike, whichever of shop and user are empty."""

import subprocess
import sys
from pathlib import Path

import pytest
from django.db import IntegrityError, transaction

from orders.models import LedgerAccount
from shopfeed.accounts.tests.factories import UserFactory
from shops.tests.factories import ShopFactory

Kind = LedgerAccount.Kind
BASE_DIR = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
@pytest.mark.parametrize("owner", ["platform", "shop", "user", "shop and user"])
def test_a_second_account_for_the_same_kind_currency_and_owner_is_refused(owner):
    fields = {"kind": Kind.PLATFORM_REVENUE, "currency": "USD"}
    if "shop" in owner:
        fields["shop"] = ShopFactory()
    if "user" in owner:
        fields["user"] = UserFactory()
    LedgerAccount.objects.create(**fields)
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerAccount.objects.create(**fields)
    assert LedgerAccount.objects.count() == 1


@pytest.mark.django_db
def test_accounts_differing_in_kind_currency_or_owner_coexist():
    shop, other_shop, user = ShopFactory(), ShopFactory(), UserFactory()
    for fields in (
        {"kind": Kind.PLATFORM_REVENUE, "currency": "USD"},
        {"kind": Kind.PLATFORM_REVENUE, "currency": "EUR"},
        {"kind": Kind.BUYER_CLEARING, "currency": "USD"},
        {"kind": Kind.PLATFORM_REVENUE, "currency": "USD", "shop": shop},
        {"kind": Kind.PLATFORM_REVENUE, "currency": "USD", "shop": other_shop},
        {"kind": Kind.PLATFORM_REVENUE, "currency": "USD", "user": user},
        {"kind": Kind.PLATFORM_REVENUE, "currency": "USD", "shop": shop, "user": user},
    ):
        LedgerAccount.objects.create(**fields)
    assert LedgerAccount.objects.count() == 7


def test_checks_on_sqlite_raise_no_warning_about_the_ledger_constraint(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "shopfeed.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'check.sqlite3'}",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--database", "default"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "W047" not in result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
