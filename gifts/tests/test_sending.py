"""send_gift: every rule checked server-side, one balanced posting, one debit per token."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import pytest
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from gifts import services as settings_services
from gifts import wallet
from gifts.errors import (
    AgeRestricted,
    BirthDateRequired,
    ClientTokenReused,
    DailyCapReached,
    GiftingFrozen,
    GiftUnavailable,
    InsufficientCoins,
    InvalidClientToken,
    InvalidGiftCount,
    SelfGift,
)
from gifts.models import GiftSend
from gifts.sending import hooks
from gifts.sending.services import send_gift, send_gift_to_session
from gifts.signals import gift_sent
from orders.ledger import services as ledger
from orders.ledger.models import LedgerAccount, LedgerEntry
from shopfeed.accounts.tests.factories import UserFactory
from shopfeed.errors import NotAllowed, ShopFeedError

from .factories import AdultCreatorFactory, AdultFactory, GiftFactory, give_coins

Kind = LedgerAccount.Kind


@pytest.fixture
def host(db):
    return AdultCreatorFactory()


@pytest.fixture
def sender(db):
    user = AdultFactory()
    give_coins(user, 1000)
    return user


@pytest.fixture
def rose(db):
    return GiftFactory(name="Rose", coins=1, is_comboable=True)


@pytest.fixture
def lion(db):
    return GiftFactory(name="Lion", coins=300)


def _moved():
    """Every ledger entry that is not a coin credit (what sends and refunds moved)."""
    return LedgerEntry.objects.exclude(transaction__kind="coin_test_credit").count()


@pytest.mark.django_db
def test_a_send_moves_the_coins_to_the_creator_and_the_platform_in_one_balanced_posting(
    sender, host, lion
):
    send = send_gift(sender=sender, host=host, gift=lion, count=2, client_token="t-1")
    assert (send.coins_total, send.creator_diamonds, send.platform_coins) == (600, 300, 300)
    assert wallet.wallet_balance(sender) == 400
    assert wallet.diamonds_balance(host) == 300
    entries = send.ledger_transaction.entries.all()
    assert sorted(e.amount for e in entries) == [-600, 300, 300]
    assert entries.aggregate(t=Sum("amount"))["t"] == 0


@pytest.mark.django_db
def test_a_one_coin_gift_is_a_whole_diamond_for_the_creator(sender, host, rose):
    send = send_gift(sender=sender, host=host, gift=rose, count=1, client_token="r")
    assert (send.creator_diamonds, send.platform_coins) == (1, 0)
    assert wallet.diamonds_balance(host) == 1


@pytest.mark.django_db(transaction=True)
def test_a_resend_with_the_same_client_token_debits_once_and_announces_once(sender, host, lion):
    heard = []

    def receiver(**kwargs):
        heard.append(kwargs["send_id"])

    gift_sent.connect(receiver)
    try:
        first = send_gift(sender=sender, host=host, gift=lion, count=1, client_token="again")
        second = send_gift(sender=sender, host=host, gift=lion, count=1, client_token="again")
    finally:
        gift_sent.disconnect(receiver)
    assert first.pk == second.pk
    assert wallet.wallet_balance(sender) == 700
    assert GiftSend.objects.count() == 1
    assert heard == [first.pk]


@pytest.mark.django_db
def test_the_same_token_for_another_gift_is_refused(sender, host, lion, rose):
    send_gift(sender=sender, host=host, gift=lion, count=1, client_token="tok")
    with pytest.raises(ClientTokenReused):
        send_gift(sender=sender, host=host, gift=rose, count=1, client_token="tok")
    assert wallet.wallet_balance(sender) == 700


@pytest.mark.django_db
@pytest.mark.parametrize("count", [0, -1, 100, "abc", True, 1.0, None])
def test_a_bad_count_is_refused_and_nothing_moves(sender, host, rose, count):
    with pytest.raises(InvalidGiftCount, match="between 1 and 99"):
        send_gift(sender=sender, host=host, gift=rose, count=count, client_token="c")
    assert wallet.wallet_balance(sender) == 1000
    assert not GiftSend.objects.exists()
    assert _moved() == 0


@pytest.mark.django_db
def test_an_unknown_or_inactive_gift_is_refused_and_nothing_moves(sender, host, rose):
    rose.is_active = False
    rose.save()
    for gift in (rose, rose.pk, 999_999, "1", True):
        with pytest.raises(GiftUnavailable):
            send_gift(sender=sender, host=host, gift=gift, count=1, client_token="g")
    assert wallet.wallet_balance(sender) == 1000
    assert _moved() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("token", ["", "x" * 65, "has space", 42, None])
def test_a_missing_or_malformed_client_token_is_refused(sender, host, rose, token):
    with pytest.raises(InvalidClientToken):
        send_gift(sender=sender, host=host, gift=rose, count=1, client_token=token)
    assert _moved() == 0


@pytest.mark.django_db
def test_an_under_18_sender_is_refused(host, rose):
    teen = UserFactory(birth_date=timezone.localdate() - timedelta(days=17 * 365))
    give_coins(teen, 100)
    with pytest.raises(AgeRestricted, match="18 or older"):
        send_gift(sender=teen, host=host, gift=rose, count=1, client_token="t")
    assert wallet.wallet_balance(teen) == 100


@pytest.mark.django_db
def test_an_under_18_host_cannot_receive(sender, rose):
    teen_host = UserFactory(is_creator=True, birth_date=date.today() - timedelta(days=3000))
    with pytest.raises(AgeRestricted, match="cannot receive"):
        send_gift(sender=sender, host=teen_host, gift=rose, count=1, client_token="t")
    assert wallet.wallet_balance(sender) == 1000


@pytest.mark.django_db
def test_a_sender_without_a_birth_date_is_asked_for_it(host, rose):
    user = UserFactory()
    give_coins(user, 10)
    with pytest.raises(BirthDateRequired, match="date of birth") as err:
        send_gift(sender=user, host=host, gift=rose, count=1, client_token="t")
    assert err.value.field == "birth_date"


@pytest.mark.django_db
def test_only_active_creators_receive_gifts(sender, rose):
    for host in (AdultFactory(), AdultCreatorFactory(is_active=False)):
        with pytest.raises(ShopFeedError, match="Only creators"):
            send_gift(sender=sender, host=host, gift=rose, count=1, client_token="t")
    assert wallet.wallet_balance(sender) == 1000


@pytest.mark.django_db
def test_nobody_gifts_themself(sender, rose):
    with pytest.raises(SelfGift):
        send_gift(sender=sender, host=sender, gift=rose, count=1, client_token="t")


@pytest.mark.django_db
def test_an_anonymous_sender_is_refused(host, rose):
    from django.contrib.auth.models import AnonymousUser

    with pytest.raises(NotAllowed, match="Sign in"):
        send_gift(sender=AnonymousUser(), host=host, gift=rose, count=1, client_token="t")


@pytest.mark.django_db
def test_a_send_beyond_the_wallet_is_refused_with_the_balance(sender, host, lion):
    with pytest.raises(InsufficientCoins, match="holds 1,000"):
        send_gift(sender=sender, host=host, gift=lion, count=4, client_token="t")
    assert wallet.wallet_balance(sender) == 1000
    assert _moved() == 0


@pytest.mark.django_db
def test_the_users_own_daily_cap_is_enforced_with_a_clear_message(sender, host, lion):
    settings_services.update_gifting_settings(user=sender, daily_coin_cap=700)
    send_gift(sender=sender, host=host, gift=lion, count=2, client_token="a")
    with pytest.raises(DailyCapReached, match="limit of 700 coins leaves 100 for today"):
        send_gift(sender=sender, host=host, gift=lion, count=1, client_token="b")
    assert wallet.wallet_balance(sender) == 400


@pytest.mark.django_db
def test_the_platform_cap_applies_when_the_user_set_none(settings, sender, host, lion):
    settings.GIFTS_DAILY_COIN_CAP = 500
    with pytest.raises(DailyCapReached):
        send_gift(sender=sender, host=host, gift=lion, count=2, client_token="a")


@pytest.mark.django_db
def test_yesterdays_sends_do_not_count_against_today(sender, host, lion):
    settings_services.update_gifting_settings(user=sender, daily_coin_cap=300)
    old = send_gift(sender=sender, host=host, gift=lion, count=1, client_token="a")
    GiftSend.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=1))
    send_gift(sender=sender, host=host, gift=lion, count=1, client_token="b")
    assert wallet.wallet_balance(sender) == 400


@pytest.mark.django_db
def test_a_frozen_sender_is_refused(sender, host, rose):
    settings_services.freeze_gifting(user=sender, reason="Card dispute")
    with pytest.raises(GiftingFrozen):
        send_gift(sender=sender, host=host, gift=rose, count=1, client_token="t")
    assert wallet.wallet_balance(sender) == 1000


@pytest.mark.django_db
def test_a_session_send_needs_the_live_app_to_vouch_for_the_session(sender, host, rose):
    saved = hooks.session_resolver()
    try:
        hooks._resolver.clear()
        with pytest.raises(ShopFeedError, match="not available"):
            send_gift_to_session(sender=sender, session_id=7, gift=rose, count=1, client_token="a")

        def resolver(session_id):
            if session_id != 7:
                raise ShopFeedError("That session is not live.", code="not_live")
            return host.pk

        hooks.register_session_resolver(resolver)
        with pytest.raises(ShopFeedError, match="not live"):
            send_gift_to_session(sender=sender, session_id=8, gift=rose, count=1, client_token="b")
        send = send_gift_to_session(
            sender=sender, session_id=7, gift=rose, count=3, client_token="c"
        )
    finally:
        hooks._resolver[:] = [saved] if saved else []
    assert (send.host, send.session_id, send.context) == (host, 7, GiftSend.Context.LIVE)
    assert GiftSend.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_sends_from_a_wallet_holding_twenty_let_exactly_twenty_through(host):
    sender = AdultFactory()
    gift = GiftFactory(coins=5)
    give_coins(sender, 100)
    barrier = threading.Barrier(50)

    def attempt(i):
        try:
            barrier.wait()
            return send_gift(sender=sender, host=host, gift=gift, count=1, client_token=f"c{i}")
        except InsufficientCoins:
            return "short"
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(attempt, range(50)))
    sent = [r for r in results if r != "short"]
    assert len(sent) == 20
    assert results.count("short") == 30
    assert wallet.wallet_balance(sender) == 0
    assert ledger.balance(wallet.wallet_account(sender)) == 0
    assert wallet.diamonds_balance(host) == 20 * 3  # 5 coins: creator 3, platform 2
    assert not LedgerAccount.objects.filter(balance_amount__lt=0, kind=Kind.COIN_WALLET).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_many_senders_to_one_creator_never_wait_on_the_creators_account(host):
    """Every send commits while another transaction holds the lock that updating the
    creator's (and the platform's) cached balance would need, as a send in flight or a fold
    does: a send never waits for it."""
    from django.db import transaction

    gift = GiftFactory(coins=10)
    senders = [AdultFactory() for _ in range(5)]
    for s in senders:
        give_coins(s, 10)
    send_gift(sender=senders[0], host=host, gift=gift, count=1, client_token="first")
    diamonds = wallet.diamonds_account(host)
    platform = wallet.platform_account(Kind.PLATFORM_REVENUE)
    holding = threading.Event()
    release = threading.Event()

    def hold_locks():
        try:
            with transaction.atomic():
                list(
                    LedgerAccount.objects.select_for_update(no_key=True).filter(
                        pk__in=[diamonds.pk, platform.pk]
                    )
                )
                holding.set()
                release.wait(10)
        finally:
            connection.close()

    def send(s):
        try:
            with connection.cursor() as cur:
                cur.execute("SET lock_timeout = '2s'")
            return send_gift(sender=s, host=host, gift=gift, count=1, client_token="x").pk
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=5) as pool:
        holder = pool.submit(hold_locks)
        assert holding.wait(5)
        results = list(pool.map(send, senders[1:]))
        release.set()
        holder.result()
    assert len(results) == 4
    assert wallet.diamonds_balance(host) == 5 * 5
