"""The coins API under /api/v1/gifts/: packs with money prices (public), buying a pack or an
exact amount (a client secret from localstripe), my purchases and refunds. Bad input is a
clear 4xx and moves nothing; nobody sees or refunds someone else's purchase; constant queries."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from gifts import wallet
from gifts.coins.models import CoinPurchase, CoinRefund
from orders.ledger.models import LedgerEntry
from orders.tests.payment_helpers import payment_intent
from shopfeed.accounts.tests.factories import UserFactory
from shopfeed.testing import as_if_committed

from .coin_factories import make_pack, paid_purchase

pytestmark = pytest.mark.django_db
API = "/api/v1/gifts"
# token, count, page, refunds (prefetch), wallet row, wallet credits, their purchases
QUERIES = 7


def client_for(user) -> APIClient:
    client = APIClient(enforce_csrf_checks=True)
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def buyer(db):
    return UserFactory()


@pytest.fixture
def pack(db):
    return make_pack(coins=350, usd=449, eur=409)


def test_packs_are_public_with_money_prices_and_the_exact_amount_terms(
    settings, pack, django_assert_max_num_queries
):
    settings.GIFTS_COIN_VALUE_PER_100 = {"USD": 129, "EUR": 119}
    make_pack(coins=70, usd=89, sort_order=0)
    make_pack(coins=7000, usd=8799, is_active=False)
    for n in range(5):
        make_pack(coins=1000 + n, usd=1200)

    with django_assert_max_num_queries(1):
        body = APIClient().get(f"{API}/coin-packs/").json()

    coins = [p["coins"] for p in body["packs"]]
    assert 7000 not in coins
    assert len(coins) == 7
    first = next(p for p in body["packs"] if p["coins"] == 350)
    assert first["price"] == {"amount": 449, "currency": "USD"}
    assert first["exact_price"] == {"amount": 452, "currency": "USD"}
    assert body["exact"] == {
        "currency": "USD",
        "value_per_100": 129,
        "min_coins": 39,
        "max_coins": 100_000,
    }
    eur = APIClient().get(f"{API}/coin-packs/?currency=EUR").json()
    assert [(p["coins"], p["price"]) for p in eur["packs"]] == [
        (350, {"amount": 409, "currency": "EUR"})
    ]


def test_an_unknown_currency_is_a_clear_400():
    response = APIClient().get(f"{API}/coin-packs/?currency=XYZ")
    assert response.status_code == 400
    assert response.json()["code"] == "currency_not_sold"


@pytest.mark.postgres
def test_buying_a_pack_answers_a_client_secret_and_no_coins_yet(localstripe, buyer, pack):
    response = client_for(buyer).post(f"{API}/coin-purchases/", {"pack": pack.pk}, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["coins"], body["total_amount"], body["currency"], body["status"]) == (
        350,
        449,
        "USD",
        "pending",
    )
    assert body["client_secret"].startswith(body["payment_intent_id"])
    assert payment_intent(body["payment_intent_id"])["amount"] == 449
    assert wallet.wallet_balance(buyer) == 0


@pytest.mark.postgres
def test_buying_an_exact_amount_charges_the_coins_value(localstripe, buyer, settings):
    settings.GIFTS_COIN_VALUE_PER_100 = {"USD": 129, "EUR": 119}
    response = client_for(buyer).post(
        f"{API}/coin-purchases/", {"coins": 280, "currency": "EUR"}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["coins"], body["total_amount"], body["currency"], body["pack"]) == (
        280,
        333,
        "EUR",
        None,
    )
    assert payment_intent(body["payment_intent_id"])["currency"] == "eur"


@pytest.mark.parametrize(
    ("data", "status", "field"),
    [
        ({"coins": 0}, 400, "coins"),
        ({"coins": -5}, 400, "coins"),
        ({"coins": "abc"}, 400, "coins"),
        ({"coins": True}, 400, "coins"),
        ({"coins": 10**12}, 400, "coins"),
        ({"coins": 100_001}, 400, "coins"),
        ({"coins": 5}, 400, "coins"),  # below a card payment's minimum
        ({"pack": 999_999}, 404, "pack"),
        ({"pack": "inactive"}, 404, "pack"),
        ({}, 400, None),
        ({"coins": 100, "pack": "active"}, 400, None),
        ({"coins": 100, "currency": "XYZ"}, 400, "currency"),
    ],
)
def test_bad_purchase_input_is_refused_clearly_and_nothing_is_made(
    buyer, pack, data, status, field
):
    inactive = make_pack(coins=999, usd=999, is_active=False)
    data = {k: {"inactive": inactive.pk, "active": pack.pk}.get(v, v) for k, v in data.items()}

    response = client_for(buyer).post(f"{API}/coin-purchases/", data, format="json")

    assert response.status_code == status, response.json()
    body = response.json()
    if field:
        assert field in body
    assert not CoinPurchase.objects.exists()
    assert not LedgerEntry.objects.exists()


def test_buying_needs_a_signed_in_user_and_csrf_with_a_session(buyer, pack):
    assert APIClient().post(f"{API}/coin-purchases/", {"pack": pack.pk}).status_code in (401, 403)
    session = APIClient(enforce_csrf_checks=True)
    session.force_login(buyer)
    response = session.post(f"{API}/coin-purchases/", {"pack": pack.pk}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert not CoinPurchase.objects.exists()


@pytest.mark.postgres
def test_my_purchases_list_in_constant_queries_with_what_is_refundable(
    localstripe, client, buyer, pack, django_assert_max_num_queries
):
    paid = paid_purchase(client, buyer=buyer, pack=pack.pk)
    api = client_for(buyer)
    with django_assert_max_num_queries(QUERIES):
        api.get(f"{API}/coin-purchases/")
    for _ in range(4):
        paid_purchase(client, buyer=buyer, pack=pack.pk)
    paid_purchase(client, buyer=UserFactory(), pack=pack.pk)  # someone else's

    with django_assert_max_num_queries(QUERIES):
        body = api.get(f"{API}/coin-purchases/").json()

    assert body["count"] == 5
    oldest = body["results"][-1]
    assert (oldest["id"], oldest["refundable_coins"]) == (paid.pk, 350)
    assert oldest["refund_until"]


@pytest.mark.postgres
def test_refund_over_the_api_gives_back_the_unused_coins(localstripe, client, buyer, pack):
    purchase = paid_purchase(client, buyer=buyer, pack=pack.pk)

    with as_if_committed():
        response = client_for(buyer).post(f"{API}/coin-purchases/{purchase.pk}/refund/")

    assert response.status_code == 201, response.json()
    assert (response.json()["coins"], response.json()["refund_amount"]) == (350, 449)
    assert wallet.wallet_balance(buyer) == 0
    again = client_for(buyer).post(f"{API}/coin-purchases/{purchase.pk}/refund/")
    assert again.status_code == 409
    assert again.json()["code"] == "nothing_to_refund"


@pytest.mark.postgres
def test_nobody_sees_or_refunds_someone_elses_purchase(localstripe, client, buyer, pack):
    purchase = paid_purchase(client, buyer=buyer, pack=pack.pk)
    other = client_for(UserFactory())
    entries = LedgerEntry.objects.count()

    assert other.get(f"{API}/coin-purchases/{purchase.pk}/").status_code == 404
    response = other.post(f"{API}/coin-purchases/{purchase.pk}/refund/")

    assert response.status_code == 404
    assert not CoinRefund.objects.exists()
    assert LedgerEntry.objects.count() == entries
    assert wallet.wallet_balance(buyer) == 350
    assert other.get(f"{API}/coin-purchases/").json()["count"] == 0


def test_the_coin_endpoints_are_in_the_openapi_schema():
    schema = APIClient().get("/api/schema/?format=json").json()
    paths = schema["paths"]
    for path in (
        "/api/v1/gifts/coin-packs/",
        "/api/v1/gifts/coin-purchases/",
        "/api/v1/gifts/coin-purchases/{purchase_id}/",
        "/api/v1/gifts/coin-purchases/{purchase_id}/refund/",
    ):
        assert path in paths
    created = paths["/api/v1/gifts/coin-purchases/"]["post"]["responses"]["201"]
    assert created["content"]["application/json"]["schema"]["$ref"].endswith("/StartedPurchase")
    assert "client_secret" in schema["components"]["schemas"]["StartedPurchase"]["properties"]
