"""Staff tools for gifts: catalogue with preview, read-only sends, freeze / unfreeze and
coin adjustments with a reason (audited, balanced); only staff get in."""

import pytest
from django.urls import reverse

from gifts import services, wallet
from gifts.models import CoinWallet, Gift, GiftingEvent, GiftingProfile
from gifts.sending.services import send_gift
from shopfeed.accounts.tests.factories import UserFactory
from shops.tests.factories import make_image_file

from .factories import AdultCreatorFactory, AdultFactory, GiftFactory, give_coins

pytestmark = pytest.mark.django_db


def action(client, model, name, rows, **extra):
    url = reverse(f"admin:gifts_{model}_changelist")
    data = {"action": name, "_selected_action": [r.pk for r in rows], **extra}
    return client.post(url, data, follow="apply" in extra)


@pytest.mark.parametrize(
    "model", ["gift", "giftsend", "giftingprofile", "coinwallet", "giftingevent"]
)
def test_only_staff_reach_the_gift_admin(client, model):
    client.force_login(UserFactory())
    response = client.get(reverse(f"admin:gifts_{model}_changelist"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_staff_add_a_gift_with_an_image_and_see_its_preview_and_money_price(admin_client):
    response = admin_client.post(
        reverse("admin:gifts_gift_add"),
        {
            "name": "Galaxy",
            "slug": "galaxy",
            "coins": "1000",
            "image": make_image_file("galaxy.png"),
            "is_active": "on",
            "sort_order": "3",
        },
    )
    assert response.status_code == 302, response.context["adminform"].errors
    gift = Gift.objects.get(slug="galaxy")
    page = admin_client.get(reverse("admin:gifts_gift_changelist")).content.decode()
    assert gift.image.url in page
    assert "$12.90" in page


def test_a_gift_priced_out_of_range_or_with_a_fake_image_is_a_form_error(admin_client):
    response = admin_client.post(
        reverse("admin:gifts_gift_add"),
        {
            "name": "Bad",
            "slug": "bad",
            "coins": "50001",
            "image": make_image_file("x.png").__class__("x.png", b"not an image", "image/png"),
            "sort_order": "0",
        },
    )
    assert response.status_code == 200
    errors = response.context["adminform"].errors
    assert {"coins", "image"} <= set(errors)
    assert not Gift.objects.exists()


def test_sends_are_listed_read_only(admin_client):
    sender, host = AdultFactory(), AdultCreatorFactory()
    give_coins(sender, 10)
    send = send_gift(sender=sender, host=host, gift=GiftFactory(), count=1, client_token="a")
    assert admin_client.get(reverse("admin:gifts_giftsend_changelist")).status_code == 200
    change = admin_client.get(reverse("admin:gifts_giftsend_change", args=[send.pk]))
    assert change.status_code == 200
    assert b'name="_save"' not in change.content
    assert admin_client.get(reverse("admin:gifts_giftsend_add")).status_code == 403


def test_staff_freeze_with_a_reason_and_the_user_cannot_send(admin_client, admin_user):
    user = AdultFactory()
    give_coins(user, 10)
    profile = services.gifting_profile(user)
    asked = action(admin_client, "giftingprofile", "freeze", [profile])
    assert b"Reason" in asked.content
    action(admin_client, "giftingprofile", "freeze", [profile], reason="", apply="1")
    profile.refresh_from_db()
    assert not profile.is_frozen  # no reason, nothing done
    action(admin_client, "giftingprofile", "freeze", [profile], reason="Chargeback", apply="1")
    profile.refresh_from_db()
    assert profile.is_frozen
    assert profile.frozen_reason == "Chargeback"
    event = GiftingEvent.objects.get(user=user)
    assert (event.kind, event.actor, event.reason) == ("frozen", admin_user, "Chargeback")
    action(admin_client, "giftingprofile", "unfreeze", [profile], reason="Resolved", apply="1")
    profile.refresh_from_db()
    assert not profile.is_frozen
    page = admin_client.get(reverse("admin:gifts_giftingprofile_change", args=[profile.pk]))
    assert b"Chargeback" in page.content
    assert b"Resolved" in page.content


def test_staff_adjust_a_wallet_with_a_reason_and_see_it_in_its_history(admin_client, admin_user):
    user = UserFactory()
    give_coins(user, 20)
    acct = CoinWallet.objects.get(user=user)
    action(admin_client, "coinwallet", "adjust", [acct], coins="-5", reason="Abuse", apply="1")
    action(admin_client, "coinwallet", "adjust", [acct], coins="-50", reason="Too much", apply="1")
    action(admin_client, "coinwallet", "adjust", [acct], coins="x", reason="Typo", apply="1")
    assert wallet.wallet_balance(user) == 15
    assert list(GiftingEvent.objects.values_list("coins", "actor", "reason")) == [
        (-5, admin_user.pk, "Abuse")
    ]
    page = admin_client.get(reverse("admin:gifts_coinwallet_change", args=[acct.pk]))
    assert b"coin_adjustment" in page.content
    assert b"Staff" in page.content


def test_the_wallet_list_shows_only_coin_wallets(admin_client):
    user = UserFactory()
    give_coins(user, 3)
    wallets = admin_client.get(reverse("admin:gifts_coinwallet_changelist")).context["cl"]
    assert [w.user_id for w in wallets.result_list] == [user.pk]
    assert GiftingProfile.objects.count() == 0
