"""Gifts on the creator's and viewer's pages, and the host's goal, without sockets: the session
summary and the studio count the session's gifts from the record, the live page's drawer shows
every gift in coins and money with the viewer's balance, and only the host sets a goal."""

import json

import pytest
from django.urls import reverse

from gifts.sending.services import send_gift
from gifts.tests.factories import AdultCreatorFactory, AdultFactory, GiftFactory, give_coins
from live.gifting import services as goals
from live.gifting.room import board_now
from live.models import LiveSession
from live.stream.summary import session_summary
from live.tests.conftest import reset_room
from live.tests.selling_support import live_session
from shopfeed.errors import NotAllowed, ShopFeedError
from shops.tests.factories import ShopFactory


@pytest.fixture
def host(db):
    return AdultCreatorFactory(handle="mia", display_name="Mia")


@pytest.fixture
def session(host, redis_url):
    session = live_session(ShopFactory(owner=host, currency="USD"))
    reset_room(session.pk)
    return session


@pytest.fixture
def rose(db):
    return GiftFactory(name="Rose", slug="rose", coins=1, is_comboable=True)


@pytest.fixture
def crown(db):
    return GiftFactory(name="Crown", slug="crown", coins=500)


def gifter(handle, coins=5000):
    user = AdultFactory(handle=handle, display_name=handle.title())
    give_coins(user, coins)
    return user


def test_the_session_summary_counts_its_gifts_and_top_gifters(session, host, rose, crown):
    ana, bob = gifter("ana"), gifter("bob")
    send_gift(sender=ana, host=host, gift=crown, count=2, client_token="a1", session_id=session.pk)
    send_gift(sender=bob, host=host, gift=rose, count=30, client_token="b1", session_id=session.pk)
    other = live_session(session.shop)
    send_gift(sender=bob, host=host, gift=crown, count=1, client_token="b2", session_id=other.pk)
    send_gift(sender=bob, host=host, gift=crown, count=1, client_token="b3")  # not in a live

    gifts = session_summary(session=session).gifts
    assert (gifts.sends, gifts.gifts, gifts.coins, gifts.senders) == (2, 32, 1030, 2)
    assert gifts.diamonds == 515  # the creator's 50 %
    assert [(t.handle, t.coins) for t in gifts.top] == [("ana", 1000), ("bob", 30)]


def test_the_manage_page_and_the_studio_show_the_sessions_gifts(
    client, session, host, crown, django_assert_max_num_queries, django_assert_num_queries
):
    ana = gifter("ana")
    send_gift(sender=ana, host=host, gift=crown, count=3, client_token="a1", session_id=session.pk)
    LiveSession.objects.filter(pk=session.pk).update(status=LiveSession.Status.ENDED)
    client.force_login(host)
    manage = client.get(reverse("live:manage", kwargs={"pk": session.pk})).content.decode()
    assert "1500</strong> coins in gifts" in manage
    assert "Top gifters: <strong>Ana</strong> 1500 coins" in manage
    with django_assert_max_num_queries(20) as few:
        studio = client.get(reverse("live:studio")).content.decode()
    assert "3 gifts, 1500 coins" in studio
    for i in range(3):
        live_session(session.shop, title=f"More {i}")
    with django_assert_num_queries(len(few.captured_queries)):
        client.get(reverse("live:studio"))


def test_the_live_page_drawer_prices_every_gift_in_coins_and_money_with_the_balance(
    client, session, rose, crown
):
    ana = gifter("ana", coins=750)
    client.force_login(ana)
    response = client.get(reverse("live:watch", kwargs={"pk": session.pk}))
    body = response.content.decode()
    cfg = json.loads(
        body.split('id="live-client" type="application/json">')[1].split("</script>")[0]
    )
    drawer = cfg["gifts"]
    assert drawer["balance"] == 750
    assert [(g["name"], g["coins"], g["price_amount"], g["currency"]) for g in drawer["gifts"]] == [
        ("Rose", 1, 1, "USD"),  # 1.29 USD per 100 coins, rounded to the cent
        ("Crown", 500, 645, "USD"),
    ]
    assert cfg["can_gift"] is True
    assert 'id="gift-drawer"' in body


def test_the_host_has_no_drawer_and_an_anonymous_viewer_is_asked_to_log_in(client, session, host):
    response = client.get(reverse("live:watch", kwargs={"pk": session.pk}))
    assert 'id="gift-drawer"' not in response.content.decode()
    assert "to send gifts" in response.content.decode()
    client.force_login(host)
    body = client.get(reverse("live:watch", kwargs={"pk": session.pk})).content.decode()
    assert 'id="gift-drawer"' not in body
    assert 'id="goal-form"' in body


def test_only_the_host_sets_a_goal_of_whole_coins_and_it_reaches_the_board(
    session, host, django_capture_on_commit_callbacks
):
    viewer = gifter("ana")
    with pytest.raises(NotAllowed):
        goals.set_gift_goal(session=session, by=viewer, coins=100)
    for bad in (0, -5, "100", 1.5, None, 10_000_001, True):
        with pytest.raises(ShopFeedError):
            goals.set_gift_goal(session=session, by=host, coins=bad)
    with pytest.raises(ShopFeedError):
        goals.set_gift_goal(session=session, by=host, coins=100, title="x" * 61)
    assert LiveSession.objects.get(pk=session.pk).gift_goal_coins is None

    with django_capture_on_commit_callbacks(execute=True):
        goals.set_gift_goal(session=session, by=host, coins=100, title="New mic")
    session.refresh_from_db()
    assert (session.gift_goal_coins, session.gift_goal_title) == (100, "New mic")
    assert board_now(session.pk)["goal"] == {"target": 100, "progress": 0, "title": "New mic"}
    with django_capture_on_commit_callbacks(execute=True):
        goals.clear_gift_goal(session=session, by=host)
    assert board_now(session.pk)["goal"] is None


def test_the_goal_progress_is_recounted_from_the_sends_since_it_was_set(session, host, crown):
    ana = gifter("ana")
    send_gift(
        sender=ana, host=host, gift=crown, count=1, client_token="before", session_id=session.pk
    )
    goals.set_gift_goal(session=session, by=host, coins=2000)
    send_gift(
        sender=ana, host=host, gift=crown, count=2, client_token="after", session_id=session.pk
    )
    session.refresh_from_db()
    assert goals.goal_progress(session) == 1000


def test_a_send_naming_a_session_from_the_api_goes_to_its_host_only_while_live(
    session, host, crown
):
    from gifts.sending.services import send_gift_to_session

    ana = gifter("ana")
    send = send_gift_to_session(
        sender=ana, session_id=session.pk, gift=crown, count=1, client_token="api-1"
    )
    assert (send.host_id, send.session_id) == (host.pk, session.pk)
    LiveSession.objects.filter(pk=session.pk).update(status=LiveSession.Status.ENDED)
    with pytest.raises(ShopFeedError) as ended:
        send_gift_to_session(
            sender=ana, session_id=session.pk, gift=crown, count=1, client_token="api-2"
        )
    assert ended.value.code == "not_live"
    with pytest.raises(ShopFeedError) as missing:
        send_gift_to_session(
            sender=ana, session_id=999_999, gift=crown, count=1, client_token="api-3"
        )
    assert missing.value.code == "session_not_found"


def test_staff_see_a_sessions_gifts_and_goal_in_the_admin(admin_client, session, host, crown):
    ana = gifter("ana")
    send_gift(sender=ana, host=host, gift=crown, count=2, client_token="a1", session_id=session.pk)
    goals.set_gift_goal(session=session, by=host, coins=5000, title="New mic")
    body = admin_client.get(
        reverse("admin:live_livesession_change", args=[session.pk])
    ).content.decode()
    assert "Gifts: 2 (1000 coins, 500 diamonds to the host, from 1 viewers)" in body
    assert "New mic" in body
