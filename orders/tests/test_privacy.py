"""Download my data and delete my account (shopfeed.accounts.privacy with what each app
registers). Here because only orders may import every app whose rows it checks."""

import io
import json
import uuid
import zipfile
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.db import models
from django.db.models import Sum
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token

from orders.ledger.models import LedgerEntry
from orders.models import Address, Checkout, Order
from shopfeed.accounts.models import DataExport, Follow
from shopfeed.accounts.privacy import services as privacy
from shopfeed.accounts.tests.factories import CreatorFactory, UserFactory
from shopfeed.feed.engagement import services as engagement
from shopfeed.feed.engagement.services import WatchEvent
from shopfeed.feed.models import Video, VideoComment, VideoLike, VideoView
from shopfeed.feed.tests.factories import VideoFactory

from .factories import AddressFactory, OrderFactory, PaidOrderFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def active_user(label: str):
    """A user with a row of every kind: follow, own video, like, comment, view, address,
    order. Captions and texts carry `label` so whose rows an archive holds is visible."""
    user = UserFactory(display_name=f"Person {label}")
    creator = CreatorFactory()
    Follow.objects.create(follower=user, creator=creator)
    VideoFactory(creator=user, caption=f"my clip {label}")
    watched = VideoFactory(creator=creator)
    engagement.like(user=user, video=watched)
    engagement.add_comment(author=user, video=watched, text=f"comment {label}")
    engagement.record_watch_events(
        viewer=user,
        region="US",
        events=[WatchEvent(uuid.uuid4(), watched.pk, watch_ms=15_000, completed=True)],
    )
    AddressFactory(user=user, data={**_address(), "full_name": f"Person {label}"})
    OrderFactory(buyer=user)
    return user


def _address():
    from .factories import ADDRESS

    return dict(ADDRESS)


def archive_of(export: DataExport) -> dict:
    with export.archive.open("rb") as f, zipfile.ZipFile(io.BytesIO(f.read())) as z:
        return {name.removesuffix(".json"): json.loads(z.read(name)) for name in z.namelist()}


def test_the_export_holds_the_users_rows_and_nobody_elses(django_capture_on_commit_callbacks):
    alice, bob = active_user("alice"), active_user("bob")
    export = DataExport.objects.create(user=alice, expires_at=timezone.now() + timedelta(days=7))
    with django_capture_on_commit_callbacks(execute=True):
        privacy.build_data_export(export_id=export.pk)
    export.refresh_from_db()
    assert export.status == DataExport.Status.READY

    data = archive_of(export)
    assert set(data) >= {"profile", "follows", "orders", "addresses", "videos", "comments",
                         "likes", "watch_history", "feed_settings", "shares"}  # fmt: skip
    text = json.dumps(data)
    assert "alice" in text
    assert "bob" not in text
    assert bob.handle not in text
    assert bob.email not in text
    assert data["profile"][0]["email"] == alice.email
    assert [c["text"] for c in data["comments"]] == ["comment alice"]
    assert [v["caption"] for v in data["videos"]] == ["my clip alice"]
    assert len(data["likes"]) == len(data["watch_history"]) == len(data["follows"]) == 1
    assert [o["order"] for o in data["orders"]] == list(
        Order.objects.filter(buyer=alice).values_list("pk", flat=True)
    )
    assert data["addresses"][0]["full_name"] == "Person alice"
    # The link goes by email and needs the owner's session.
    assert len(mail.outbox) == 1
    assert str(export.pk) in mail.outbox[0].body
    owner, other = Client(), Client()
    owner.force_login(alice)
    other.force_login(bob)
    url = f"/account/privacy/exports/{export.pk}/"
    response = owner.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content)[:2] == b"PK"
    assert other.get(url).status_code == 404


def test_an_expired_export_is_deleted_with_its_file():
    user = active_user("carol")
    export = DataExport.objects.create(user=user, expires_at=timezone.now() + timedelta(days=7))
    privacy.build_data_export(export_id=export.pk)
    export.refresh_from_db()
    name = export.archive.name
    client = Client()
    client.force_login(user)
    assert privacy.expire_data_exports(now=timezone.now() + timedelta(days=8)) == 1
    assert not DataExport.objects.exists()
    assert not export.archive.storage.exists(name)
    assert client.get(f"/account/privacy/exports/{export.pk}/").status_code == 404


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_a_celery_worker_builds_the_archive_asked_for_on_the_page(celery_worker):
    import time

    user = active_user("dave")
    client = Client()
    client.force_login(user)
    assert client.post("/account/privacy/export/").status_code == 302
    export = DataExport.objects.get(user=user)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        export.refresh_from_db()
        if export.status == DataExport.Status.READY:
            break
        time.sleep(0.2)
    assert export.status == DataExport.Status.READY, celery_worker.output()[-2000:]
    assert archive_of(export)["comments"][0]["text"] == "comment dave"
    # A second request while one is being prepared is refused; a ready one does not block.
    assert client.post("/account/privacy/export/").status_code == 302


def _rows_pointing_at(user) -> dict[str, int]:
    """Rows of every table with a foreign key to the user model that point at `user`."""
    from django.apps import apps

    found = {}
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if field.is_relation and field.related_model is get_user_model():
                n = model._base_manager.filter(**{field.name: user}).count()
                if n:
                    found[f"{model._meta.label}.{field.name}"] = n
    return found


def test_deleting_an_account_leaves_no_personal_data_and_the_books_balance(localstripe):
    user = active_user("erin")
    PaidOrderFactory(buyer=user)
    Token.objects.create(user=user)
    user.set_password("pw-Secret-123")
    user.save()
    ledger_before = list(
        LedgerEntry.objects.values("account_id").annotate(t=Sum("amount")).order_by("account_id")
    )
    client = Client()
    client.force_login(user)

    wrong = client.post("/account/privacy/delete/", {"password": "nope", "confirmation": "DELETE"})
    assert wrong.status_code == 400
    assert Video.objects.filter(creator=user).exists()

    response = client.post(
        "/account/privacy/delete/", {"password": "pw-Secret-123", "confirmation": "DELETE"}
    )
    assert response.status_code == 302

    user.refresh_from_db()
    assert (user.email, user.display_name, user.bio, user.first_name) == ("", "", "", "")
    assert "erin" not in f"{user.username} {user.handle}"
    assert not user.is_active
    assert not user.has_usable_password()
    # Only the business records stay, pointing at the anonymised row.
    remaining = _rows_pointing_at(user)
    assert set(remaining) <= {"orders.Order.buyer", "orders.Checkout.buyer",
                              "orders.LedgerAccount.user"}, remaining  # fmt: skip
    assert remaining["orders.Order.buyer"] == 2
    for order in Order.objects.filter(buyer=user):
        assert order.shipping_address == {"country": "US"}
    for checkout in Checkout.objects.filter(buyer=user):
        assert checkout.shipping_address == {"country": "US"}
    assert not Address.objects.filter(full_name__contains="erin").exists()
    assert not VideoComment.objects.filter(text__contains="erin").exists()
    assert not VideoLike.objects.filter(user=user).exists()
    assert not VideoView.objects.filter(viewer=user).exists()
    # Signed out everywhere: the old session no longer works, the token is gone.
    assert client.get("/account/privacy/").status_code == 302
    assert not Token.objects.filter(user=user).exists()
    # The books: every transaction still balances and no account moved.
    unbalanced = (
        LedgerEntry.objects.values("transaction_id", "currency")
        .annotate(total=Sum("amount"))
        .exclude(total=0)
    )
    assert list(unbalanced) == []
    assert ledger_before == list(
        LedgerEntry.objects.values("account_id").annotate(t=Sum("amount")).order_by("account_id")
    )
    assert ledger_before, "a paid order posted to the ledger"


def test_deleting_needs_the_word_and_changes_nothing_without_it():
    user = UserFactory()
    client = Client()
    client.force_login(user)
    response = client.post(
        "/account/privacy/delete/", {"password": "pw-Secret-123", "confirmation": "yes"}
    )
    assert response.status_code == 400
    assert "Type DELETE to confirm" in response.content.decode()
    user.refresh_from_db()
    assert user.is_active
    assert user.email


def test_every_cascading_reference_is_covered():
    """A table added later with a foreign key to the user is either deleted with the account
    (CASCADE), cleared (SET_NULL) or a kept business record (PROTECT) listed here."""
    from django.apps import apps

    protect = set()
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if field.is_relation and field.related_model is get_user_model():
                rule = field.remote_field.on_delete
                assert rule in (models.CASCADE, models.SET_NULL, models.PROTECT), field
                if rule is models.PROTECT:
                    protect.add(f"{model._meta.label}.{field.name}")
    # Money and audit records: kept, pointing at the anonymised user row.
    kept = {
        "orders.Order.buyer", "orders.Checkout.buyer", "orders.LedgerAccount.user",
        "orders.FlashReservation.buyer", "shops.Shop.owner", "live.LiveSession.host",
        "gifts.GiftSend.sender", "gifts.GiftSend.host", "gifts.CoinPurchase.buyer",
        "gifts.CoinRefund.requested_by", "gifts.CoinDispute.resolved_by",
        "gifts.DiamondConversion.creator", "gifts.GiftingEvent.user", "gifts.GiftingEvent.actor",
        "gifts.CoinWallet.user",
    }  # fmt: skip
    assert protect <= kept, protect - kept
