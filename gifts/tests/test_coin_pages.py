"""The Coins page and its pay and purchase pages, and the coin admin (packs, purchases with
the refund action, disputes resolved with a note that can unfreeze the buyer)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from gifts import wallet
from gifts.coins import services as coins_services
from gifts.coins.models import CoinDispute, CoinPack, CoinPurchase, CoinRefund
from gifts.models import GiftingProfile
from orders.models import SavedCard
from orders.tests.factories import SavedCardFactory
from orders.tests.payment_helpers import card_payment_method, payment_intent
from shopfeed.accounts.tests.factories import UserFactory
from shopfeed.testing import as_if_committed

from .coin_factories import deliver, dispute_payload, make_pack, paid_purchase, succeeded_payload

pytestmark = pytest.mark.django_db


@pytest.fixture
def buyer(db):
    return UserFactory()


@pytest.fixture
def buyer_client(client, buyer):
    client.force_login(buyer)
    return client


@pytest.fixture
def pack(db):
    return make_pack(coins=350, usd=449, name="Small")


def test_the_coins_page_shows_every_pack_with_its_money_price(client, pack, settings):
    settings.GIFTS_COIN_VALUE_PER_100 = {"USD": 129, "EUR": 119}
    make_pack(coins=70, usd=89, sort_order=0)

    body = client.get("/coins/").content.decode()

    assert "350</strong> coins" in body
    assert "$4.49" in body
    assert "$0.89" in body
    assert "100 coins cost $1.29" in body
    assert "Log in" in body  # anonymous visitors see prices, and log in to buy


def test_the_page_offers_exactly_the_coins_a_gift_lacks(buyer_client, pack):
    body = buyer_client.get("/coins/?need=280").content.decode()
    assert "You need <strong>280</strong> more coins" in body
    assert 'value="280"' in body


def test_the_page_reads_in_constant_queries(
    localstripe, client, buyer, pack, django_assert_max_num_queries
):
    paid_purchase(client, buyer=buyer, pack=pack.pk)
    client.force_login(buyer)
    with django_assert_max_num_queries(PAGE_QUERIES):
        client.get("/coins/")
    for _ in range(4):
        paid_purchase(client, buyer=buyer, pack=make_pack(coins=70, usd=89).pk)
    with django_assert_max_num_queries(PAGE_QUERIES):
        response = client.get("/coins/")
    assert response.content.decode().count("Refund ") >= 5


# session, user, packs, wallet, purchases, refunds, wallet row, credits, their purchases,
# saved card, wallet activity, the session's save
PAGE_QUERIES = 13


@pytest.mark.postgres
def test_buying_a_pack_leads_to_the_pay_page_with_the_card_form(localstripe, buyer_client, pack):
    response = buyer_client.post("/coins/buy/", {"pack": pack.pk, "currency": "USD"})

    purchase = CoinPurchase.objects.get()
    assert response["Location"] == f"/coins/purchases/{purchase.pk}/pay/"
    page = buyer_client.get(response["Location"]).content.decode()
    assert f'data-client-secret="{purchase.client_secret}"' in page
    assert f"/coins/purchases/{purchase.pk}/pay/local-confirm/" in page
    assert "Pay $4.49" in page


@pytest.mark.postgres
def test_the_pay_page_confirms_the_card_and_the_coins_arrive_with_the_webhook(
    localstripe, buyer_client, client, buyer, pack
):
    buyer_client.post("/coins/buy/", {"pack": pack.pk})
    purchase = CoinPurchase.objects.get()

    response = buyer_client.post(
        f"/coins/purchases/{purchase.pk}/pay/local-confirm/",
        {"payment_method": card_payment_method()},
    )

    assert response.json() == {"status": "succeeded"}
    status = buyer_client.get(f"/coins/purchases/{purchase.pk}/status/").content.decode()
    assert "Confirming your payment" in status
    deliver(client, succeeded_payload(purchase))
    status = buyer_client.get(f"/coins/purchases/{purchase.pk}/status/").content.decode()
    assert "350 coins added" in status
    assert wallet.wallet_balance(buyer) == 350


@pytest.mark.postgres
def test_one_tap_buys_with_the_saved_card(localstripe, buyer_client, buyer, pack):
    SavedCardFactory(user=buyer)
    assert "One tap •••• 4242" in buyer_client.get("/coins/").content.decode()

    response = buyer_client.post("/coins/buy/", {"pack": pack.pk, "one_tap": "1"})

    purchase = CoinPurchase.objects.get()
    assert response["Location"] == f"/coins/purchases/{purchase.pk}/"
    assert payment_intent(purchase.payment_intent_id)["status"] == "succeeded"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"coins": "0"}, "Ensure this value is greater than or equal to 1."),
        ({"coins": "5"}, "The smallest purchase is 39 coins"),
        ({"coins": "abc"}, "Enter a whole number."),
        ({"coins": "100001"}, "at most 100,000 coins"),
        ({"pack": "999999"}, "That coin pack is not on sale."),
        ({}, "Choose a pack or enter a number of coins."),
    ],
)
def test_bad_input_rerenders_the_page_with_the_error_and_buys_nothing(
    buyer_client, pack, data, message, settings
):
    settings.GIFTS_COIN_VALUE_PER_100 = {"USD": 129, "EUR": 119}
    response = buyer_client.post("/coins/buy/", data)

    assert response.status_code in (400, 404)
    assert message in response.content.decode()
    assert not CoinPurchase.objects.exists()


def test_buying_needs_a_signed_in_user(client, pack):
    response = client.post("/coins/buy/", {"pack": pack.pk})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/coins/"
    assert not CoinPurchase.objects.exists()


@pytest.mark.postgres
def test_the_refund_button_shows_within_14_days_and_refunds(
    localstripe, client, buyer, pack, buyer_client
):
    purchase = paid_purchase(client, buyer=buyer, pack=pack.pk)
    client.force_login(buyer)
    assert "Refund 350 unused coins" in client.get("/coins/").content.decode()

    with as_if_committed():
        response = client.post(f"/coins/purchases/{purchase.pk}/refund/")

    assert response["Location"] == "/coins/"
    assert wallet.wallet_balance(buyer) == 0
    assert "350 coins refunded ($4.49)" in client.get("/coins/").content.decode()


@pytest.mark.postgres
def test_no_refund_button_after_14_days_and_a_late_post_is_refused(
    localstripe, client, buyer, pack
):
    purchase = paid_purchase(client, buyer=buyer, pack=pack.pk)
    CoinPurchase.objects.filter(pk=purchase.pk).update(paid_at=timezone.now() - timedelta(days=15))
    client.force_login(buyer)
    assert "unused coins</button>" not in client.get("/coins/").content.decode()

    response = client.post(f"/coins/purchases/{purchase.pk}/refund/")

    assert response.status_code == 409
    assert "within 14 days" in response.content.decode()
    assert wallet.wallet_balance(buyer) == 350


@pytest.mark.postgres
def test_someone_elses_purchase_pages_do_not_exist(localstripe, client, buyer, pack):
    purchase = paid_purchase(client, buyer=buyer, pack=pack.pk)
    client.force_login(UserFactory())
    for path in ("", "status/", "pay/"):
        assert client.get(f"/coins/purchases/{purchase.pk}/{path}").status_code == 404
    assert client.post(f"/coins/purchases/{purchase.pk}/refund/").status_code == 404
    assert wallet.wallet_balance(buyer) == 350
    assert not CoinRefund.objects.exists()


# --- admin -------------------------------------------------------------------------------------


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_staff_manage_packs_with_a_price_per_currency(staff_client):
    response = staff_client.post(
        "/admin/gifts/coinpack/add/",
        {
            "name": "Starter",
            "coins": "70",
            "is_active": "on",
            "sort_order": "0",
            "prices-TOTAL_FORMS": "2",
            "prices-INITIAL_FORMS": "0",
            "prices-0-currency": "USD",
            "prices-0-price_amount": "89",
            "prices-1-currency": "EUR",
            "prices-1-price_amount": "79",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    pack = CoinPack.objects.get()
    assert sorted(pack.prices.values_list("currency", "price_amount")) == [
        ("EUR", 79),
        ("USD", 89),
    ]
    assert "$0.89" in staff_client.get("/admin/gifts/coinpack/").content.decode()


@pytest.mark.postgres
def test_staff_refund_a_purchase_from_the_admin(localstripe, client, buyer, pack, staff_client):
    purchase = paid_purchase(client, buyer=buyer, pack=pack.pk)
    assert staff_client.get("/admin/gifts/coinpurchase/").status_code == 200

    with as_if_committed():
        response = staff_client.post(
            "/admin/gifts/coinpurchase/",
            {"action": "refund_unused", "_selected_action": [purchase.pk]},
        )

    assert response.status_code == 302
    refund = CoinRefund.objects.get()
    assert (refund.coins, refund.refund_amount) == (350, 449)
    assert refund.stripe_refund_id
    assert wallet.wallet_balance(buyer) == 0


@pytest.mark.postgres
def test_staff_resolve_a_dispute_and_unfreeze_the_buyer_with_a_note(
    localstripe, client, buyer, pack, staff_client
):
    purchase = paid_purchase(client, buyer=buyer, pack=pack.pk)
    deliver(client, dispute_payload(purchase, dispute_id="dp_admin"))
    dispute = CoinDispute.objects.get()
    listing = staff_client.get("/admin/gifts/coindispute/?resolved=no").content.decode()
    assert "dp_admin" in listing

    asked = staff_client.post(
        "/admin/gifts/coindispute/",
        {"action": "resolve_and_unfreeze", "_selected_action": [dispute.pk]},
    )
    assert "What was decided" in asked.content.decode()
    assert GiftingProfile.objects.get(user=buyer).is_frozen

    staff_client.post(
        "/admin/gifts/coindispute/",
        {
            "action": "resolve_and_unfreeze",
            "_selected_action": [dispute.pk],
            "apply": "1",
            "note": "Buyer's bank confirmed the card was theirs",
        },
    )

    dispute.refresh_from_db()
    assert dispute.resolution_note == "Buyer's bank confirmed the card was theirs"
    assert dispute.resolved_by.is_staff
    assert not GiftingProfile.objects.get(user=buyer).is_frozen


@pytest.mark.postgres
def test_a_card_saved_while_buying_coins_makes_the_next_top_up_one_tap(
    localstripe, buyer_client, client, buyer, pack
):
    buyer_client.post("/coins/buy/", {"pack": pack.pk})
    purchase = CoinPurchase.objects.get()
    page = buyer_client.get(f"/coins/purchases/{purchase.pk}/pay/").content.decode()
    assert "Save this card for one-tap top-ups" in page

    assert buyer_client.post(
        f"/coins/purchases/{purchase.pk}/pay/save-card/", {"save": "1"}
    ).json() == {"save": True}
    buyer_client.post(
        f"/coins/purchases/{purchase.pk}/pay/local-confirm/",
        {"payment_method": card_payment_method()},
    )
    with as_if_committed():
        deliver(client, succeeded_payload(purchase))

    card = SavedCard.objects.get(user=buyer)
    assert card.last4 == "4242"
    assert "One tap •••• 4242" in buyer_client.get("/coins/").content.decode()
    other = UserFactory()
    client.force_login(other)
    response = client.post(f"/coins/purchases/{purchase.pk}/pay/save-card/", {"save": "1"})
    assert response.status_code == 404


@pytest.mark.postgres
def test_a_declined_card_leaves_the_purchase_payable_with_another_card(
    localstripe, buyer_client, client, buyer, pack
):
    buyer_client.post("/coins/buy/", {"pack": pack.pk})
    purchase = CoinPurchase.objects.get()
    url = f"/coins/purchases/{purchase.pk}/pay/local-confirm/"

    declined = buyer_client.post(url, {"payment_method": card_payment_method("4000000000000341")})
    assert declined.status_code == 402
    assert wallet.wallet_balance(buyer) == 0

    accepted = buyer_client.post(url, {"payment_method": card_payment_method()})
    assert accepted.json() == {"status": "succeeded"}
    purchase.refresh_from_db()
    deliver(client, succeeded_payload(purchase))
    assert wallet.wallet_balance(buyer) == 350
    assert CoinPurchase.objects.get().status == CoinPurchase.Status.PAID


@pytest.mark.postgres
def test_the_page_lists_the_wallets_activity(localstripe, client, buyer, pack):
    from gifts.sending.services import send_gift

    from .factories import AdultCreatorFactory, GiftFactory

    purchase = paid_purchase(client, buyer=buyer, pack=pack.pk)
    buyer.birth_date = timezone.localdate().replace(year=1990)
    buyer.save(update_fields=["birth_date"])
    gift = GiftFactory(coins=30)
    send_gift(sender=buyer, host=AdultCreatorFactory(), gift=gift, count=1, client_token="a1")
    with as_if_committed():
        coins_services.refund_unused_coins(purchase=purchase, by=buyer)
    client.force_login(buyer)

    activity = client.get("/coins/").content.decode().split("Wallet activity")[1]

    assert activity.index("Refunded") < activity.index("Gift sent") < activity.index("Bought")
    assert ">-320<" in activity
    assert ">-30<" in activity
    assert ">+350<" in activity
