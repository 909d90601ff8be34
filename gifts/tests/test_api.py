"""The gifts API: public catalogue with money prices, my wallet and history, sending over
HTTP through the same service, my settings; who may do what; constant query counts."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from gifts import wallet
from gifts.models import GiftSend
from shopfeed.accounts.tests.factories import UserFactory

from .factories import AdultCreatorFactory, AdultFactory, GiftFactory, give_coins

pytestmark = pytest.mark.django_db
API = "/api/v1/gifts"


def client_for(user) -> APIClient:
    client = APIClient(enforce_csrf_checks=True)
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def sender():
    user = AdultFactory()
    give_coins(user, 500)
    return user


@pytest.fixture
def host():
    return AdultCreatorFactory(handle="mia")


def test_the_catalogue_is_public_with_coin_and_money_prices(
    settings, django_assert_max_num_queries
):
    settings.GIFTS_COIN_VALUE_PER_100 = {"USD": 129, "EUR": 119}
    GiftFactory(name="Rose", coins=1, is_comboable=True, sort_order=0)
    GiftFactory(name="Lion", coins=29_999, sort_order=9)
    GiftFactory(name="Retired", is_active=False)
    for _ in range(10):
        GiftFactory(coins=50, sort_order=5)
    with django_assert_max_num_queries(1):
        body = APIClient().get(f"{API}/catalogue/").json()
    assert [g["name"] for g in (body[0], body[-1])] == ["Rose", "Lion"]
    assert len(body) == 12
    assert body[0]["price"] == {"amount": 1, "currency": "USD"}
    assert body[-1]["price"] == {"amount": 38_699, "currency": "USD"}
    assert body[0]["is_comboable"] is True
    assert body[0]["image"].startswith("/media/gifts/")
    eur = APIClient().get(f"{API}/catalogue/?currency=EUR").json()
    assert eur[-1]["price"] == {"amount": 35_699, "currency": "EUR"}


def test_an_unknown_currency_is_a_clear_400():
    response = APIClient().get(f"{API}/catalogue/?currency=XYZ")
    assert response.status_code == 400
    assert "currency" in response.json()


def test_wallet_history_and_settings_need_a_signed_in_user():
    for path in ("wallet/", "wallet/history/", "settings/"):
        assert APIClient().get(f"{API}/{path}").status_code in (401, 403)
    response = APIClient().post(
        f"{API}/sends/", {"gift": 1, "host": "mia", "client_token": "a"}, format="json"
    )
    assert response.status_code in (401, 403)


def test_my_wallet_shows_my_balance_its_value_and_what_is_left_today(sender, host):
    gift = GiftFactory(coins=100)
    client_for(sender).post(
        f"{API}/sends/", {"gift": gift.pk, "host": "mia", "client_token": "a"}, format="json"
    )
    body = client_for(sender).get(f"{API}/wallet/").json()
    assert body["balance"] == 400
    assert body["value"] == {"amount": 516, "currency": "USD"}
    assert body["spent_today"] == 100
    assert body["frozen"] is False


def test_wallet_history_lists_my_entries_only_in_constant_queries(
    sender, host, django_assert_max_num_queries
):
    gift = GiftFactory(coins=1)
    for i in range(15):
        client_for(sender).post(
            f"{API}/sends/",
            {"gift": gift.pk, "host": "mia", "client_token": f"t{i}"},
            format="json",
        )
    give_coins(UserFactory(), 99)  # someone else's
    client = client_for(sender)
    with django_assert_max_num_queries(4):
        body = client.get(f"{API}/wallet/history/").json()
    assert body["count"] == 16
    assert [e["coins"] for e in body["results"][:2]] == [-1, -1]
    assert body["results"][0]["kind"] == "gift_send"


def test_sending_over_http_debits_once_per_client_token(sender, host):
    gift = GiftFactory(coins=50)
    client = client_for(sender)
    payload = {"gift": gift.pk, "count": 3, "host": "mia", "client_token": "tap-1"}
    first = client.post(f"{API}/sends/", payload, format="json")
    again = client.post(f"{API}/sends/", payload, format="json")
    assert first.status_code == 201
    assert again.status_code == 200
    assert first.json()["send"]["id"] == again.json()["send"]["id"]
    assert first.json()["balance"] == 350
    assert wallet.wallet_balance(sender) == 350


@pytest.mark.parametrize("count", [0, -1, 100, "abc", True, None, 2.5])
def test_a_bad_count_over_http_is_a_400_and_nothing_moves(sender, host, count):
    gift = GiftFactory(coins=1)
    response = client_for(sender).post(
        f"{API}/sends/",
        {"gift": gift.pk, "count": count, "host": "mia", "client_token": "x"},
        format="json",
    )
    assert response.status_code == 400
    assert "count" in response.json()
    assert wallet.wallet_balance(sender) == 500
    assert not GiftSend.objects.exists()


def test_unknown_gift_and_unknown_host_are_404s_that_move_nothing(sender, host):
    client = client_for(sender)
    r1 = client.post(
        f"{API}/sends/", {"gift": 424242, "host": "mia", "client_token": "a"}, format="json"
    )
    r2 = client.post(
        f"{API}/sends/",
        {"gift": GiftFactory().pk, "host": "nobody", "client_token": "b"},
        format="json",
    )
    assert (r1.status_code, r1.json()["code"]) == (404, "gift_unavailable")
    assert (r2.status_code, r2.json()["code"]) == (404, "host_not_found")
    assert wallet.wallet_balance(sender) == 500


def test_not_enough_coins_says_so_with_a_code(sender, host):
    gift = GiftFactory(coins=501)
    response = client_for(sender).post(
        f"{API}/sends/", {"gift": gift.pk, "host": "mia", "client_token": "a"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "insufficient_coins"
    assert "Top up" in response.json()["detail"]


def test_a_signed_in_browser_post_without_the_csrf_token_is_refused(sender, host):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(sender)
    response = client.post(
        f"{API}/sends/",
        {"gift": GiftFactory().pk, "host": "mia", "client_token": "a"},
        format="json",
    )
    assert response.status_code == 403
    assert wallet.wallet_balance(sender) == 500


def test_a_sender_is_always_the_signed_in_user(sender, host):
    """There is no field naming the sender: the API sends as whoever is signed in."""
    other = AdultFactory()
    give_coins(other, 100)
    gift = GiftFactory(coins=10)
    client_for(sender).post(
        f"{API}/sends/",
        {"gift": gift.pk, "host": "mia", "client_token": "a", "sender": other.handle},
        format="json",
    )
    assert wallet.wallet_balance(other) == 100
    assert wallet.wallet_balance(sender) == 490


def test_host_or_session_not_both(sender, host):
    response = client_for(sender).post(
        f"{API}/sends/",
        {"gift": GiftFactory().pk, "host": "mia", "session": 3, "client_token": "a"},
        format="json",
    )
    assert response.status_code == 400


def test_my_settings_read_and_change_cap_privacy_and_a_missing_birth_date(settings):
    settings.GIFTS_DAILY_COIN_CAP = 5000
    user = UserFactory()
    client = client_for(user)
    body = client.get(f"{API}/settings/").json()
    assert body == {
        "daily_coin_cap": None,
        "platform_daily_cap": 5000,
        "show_supporter_level": False,
        "birth_date": None,
        "frozen": False,
    }
    changed = client.patch(
        f"{API}/settings/",
        {"daily_coin_cap": 300, "show_supporter_level": True, "birth_date": "1994-03-02"},
        format="json",
    ).json()
    assert (changed["daily_coin_cap"], changed["show_supporter_level"]) == (300, True)
    assert changed["birth_date"] == "1994-03-02"
    too_high = client.patch(f"{API}/settings/", {"daily_coin_cap": 5001}, format="json")
    assert too_high.status_code == 400
    assert too_high.json()["code"] == "invalid_cap"


def test_the_gift_endpoints_are_in_the_openapi_schema():
    paths = APIClient().get("/api/schema/?format=json").json()["paths"]
    for path in ("catalogue/", "wallet/", "wallet/history/", "sends/", "settings/"):
        assert f"/api/v1/gifts/{path}" in paths


def test_json_values_of_the_wrong_type_are_refused_not_converted(sender, host):
    client = client_for(sender)
    gift = GiftFactory(coins=1)
    bad_send = client.post(
        f"{API}/sends/",
        {"gift": str(gift.pk), "host": "mia", "client_token": "a"},
        format="json",
    )
    bad_settings = client.patch(f"{API}/settings/", {"show_supporter_level": 0}, format="json")
    assert (bad_send.status_code, bad_settings.status_code) == (400, 400)
    assert "gift" in bad_send.json()
    assert "show_supporter_level" in bad_settings.json()
    assert wallet.wallet_balance(sender) == 500


def test_an_empty_currency_is_refused():
    assert APIClient().get(f"{API}/catalogue/?currency=").status_code == 400


def test_reads_for_signed_in_users_document_the_403_they_answer_anonymously():
    paths = APIClient().get("/api/schema/?format=json").json()["paths"]
    assert "403" in paths["/api/v1/gifts/wallet/"]["get"]["responses"]
    assert "403" not in paths["/api/v1/gifts/catalogue/"]["get"]["responses"]
