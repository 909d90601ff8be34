"""Gifts in "download my data": the user's sends, gifts received, coin purchases and wallet
history, and nobody else's."""

import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.utils import timezone

from gifts.sending.services import send_gift
from shopfeed.accounts.models import DataExport
from shopfeed.accounts.privacy import services as privacy

from .factories import AdultCreatorFactory, AdultFactory, GiftFactory, give_coins

pytestmark = pytest.mark.django_db


def _archive(export: DataExport) -> dict:
    with export.archive.open("rb") as f, zipfile.ZipFile(io.BytesIO(f.read())) as z:
        return {name.removesuffix(".json"): json.loads(z.read(name)) for name in z.namelist()}


def _export(user, capture) -> dict:
    export = DataExport.objects.create(user=user, expires_at=timezone.now() + timedelta(days=7))
    with capture(execute=True):
        privacy.build_data_export(export_id=export.pk)
    export.refresh_from_db()
    return _archive(export)


def test_the_export_holds_my_gifts_and_wallet_and_nobody_elses(
    django_capture_on_commit_callbacks,
):
    host = AdultCreatorFactory(handle="hostess")
    alice, bob = AdultFactory(handle="alice_g"), AdultFactory(handle="bob_g")
    rose, lion = GiftFactory(name="Rose", coins=1), GiftFactory(name="Lion", coins=500)
    for user in (alice, bob):
        give_coins(user, 1000)
    send_gift(sender=alice, host=host, gift=rose, count=3, client_token="a1")
    send_gift(sender=bob, host=host, gift=lion, count=1, client_token="b1")

    data = _export(alice, django_capture_on_commit_callbacks)["gifts"]

    assert [(s["gift"], s["count"], s["coins"], s["to"]) for s in data["sent"]] == [
        ("Rose", 3, 3, "hostess")
    ]
    assert data["received"] == []
    assert sorted(e["coins"] for e in data["wallet"]) == [-3, 1000]
    text = json.dumps(data)
    assert "bob_g" not in text
    assert "Lion" not in text

    received = _export(host, django_capture_on_commit_callbacks)["gifts"]["received"]
    assert sorted((r["gift"], r["count"]) for r in received) == [("Lion", 1), ("Rose", 3)]
