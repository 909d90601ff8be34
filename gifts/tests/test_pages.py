"""The creator's gift earnings page and a user's gifting settings page."""

import pytest
from django.urls import reverse

from gifts import services
from gifts.sending.services import send_gift
from shopfeed.accounts.tests.factories import UserFactory
from shops.tests.factories import ShopFactory

from .factories import AdultCreatorFactory, AdultFactory, GiftFactory, give_coins

pytestmark = pytest.mark.django_db
EARNINGS = reverse("gifts:earnings")
SETTINGS = reverse("gifts:settings")


def _send(sender, host, gift, count, token, session_id=None):
    return send_gift(
        sender=sender,
        host=host,
        gift=gift,
        count=count,
        client_token=token,
        session_id=session_id,
    )


def test_pages_need_a_signed_in_user(client):
    for url in (EARNINGS, SETTINGS):
        response = client.get(url)
        assert response.status_code == 302
        assert "/accounts/login/" in response["Location"]


def test_the_creator_sees_their_diamonds_their_value_and_per_session_totals(
    client, django_assert_max_num_queries
):
    creator = AdultCreatorFactory()
    ShopFactory(owner=creator)
    other_creator = AdultCreatorFactory()
    lion, rose = GiftFactory(name="Lion", coins=300), GiftFactory(name="Rose", coins=1)
    fans = [AdultFactory() for _ in range(3)]
    for i, fan in enumerate(fans):
        give_coins(fan, 1000)
        _send(fan, creator, lion, 1, f"l{i}", session_id=11)
        _send(fan, creator, rose, 5, f"r{i}", session_id=12)
        _send(fan, other_creator, lion, 2, f"o{i}", session_id=99)
    client.force_login(creator)
    with django_assert_max_num_queries(14):
        response = client.get(EARNINGS)
    page = response.content.decode()
    assert response.status_code == 200
    # 3 x 150 diamonds for lions + 3 x 3 for five roses (5 coins: the platform's 2.5 rounds
    # down to 2) = 459.
    assert 'data-figure="diamonds">459<' in page
    assert 'data-figure="diamonds-value">$4.59<' in page
    assert 'data-session="12"><td>#12</td><td class="amount">3</td><td class="amount">15' in page
    assert 'data-session="11"><td>#11</td><td class="amount">3</td><td class="amount">900' in page
    assert 'data-session="99"' not in page  # another creator's session


def test_a_user_sets_a_lower_cap_privacy_and_a_missing_birth_date(client, settings):
    settings.GIFTS_DAILY_COIN_CAP = 10_000
    user = UserFactory()
    client.force_login(user)
    assert client.get(SETTINGS).status_code == 200
    response = client.post(
        SETTINGS,
        {"daily_coin_cap": "250", "show_supporter_level": "on", "birth_date": "1990-01-31"},
    )
    assert response.status_code == 302
    profile = services.gifting_profile(user)
    user.refresh_from_db()
    assert (profile.daily_coin_cap, profile.show_supporter_level) == (250, True)
    assert str(user.birth_date) == "1990-01-31"


def test_a_cap_above_the_platform_is_a_form_error_and_nothing_changes(client, settings):
    settings.GIFTS_DAILY_COIN_CAP = 10_000
    user = UserFactory()
    client.force_login(user)
    response = client.post(SETTINGS, {"daily_coin_cap": "10001"})
    assert response.status_code == 400
    assert "from 1 to 10,000" in response.content.decode()
    assert services.gifting_profile(user).daily_coin_cap is None
