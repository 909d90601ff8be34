"""Gifts in the room over a real uvicorn, Redis, PostgreSQL and WebSocket clients: combos reach
other viewers as one streak and its end, the ranking and the host's goal move, bad payloads get
`error` events on a socket that stays open, nobody sends as someone else, and a resend after a
reconnect debits once."""

import asyncio
import time
from datetime import date

import pytest

from gifts import wallet
from gifts.models import GiftSend
from gifts.services import freeze_gifting, update_gifting_settings
from gifts.tests.factories import AdultCreatorFactory, AdultFactory, GiftFactory, give_coins
from live.tests.conftest import reset_room, run
from live.tests.gift_support import gift_writer  # noqa: F401 - a fixture
from live.tests.room_support import close_quietly, events_until
from live.tests.selling_support import live_session
from shopfeed.accounts.tests.factories import UserFactory
from shops.tests.factories import ShopFactory

pytestmark = [
    pytest.mark.usefixtures("gift_writer"),
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres,
    pytest.mark.services,
]


@pytest.fixture
def host(db):
    return AdultCreatorFactory(handle="mia", display_name="Mia")


@pytest.fixture
def room(host):
    session = live_session(ShopFactory(owner=host))
    reset_room(session.pk)
    return session


@pytest.fixture
def rose(db):
    return GiftFactory(name="Rose", slug="rose", coins=1, is_comboable=True)


@pytest.fixture
def crown(db):
    return GiftFactory(name="Crown", slug="crown", coins=50, is_comboable=False)


@pytest.fixture
def ana(db):
    user = AdultFactory(handle="ana", display_name="Ana")
    give_coins(user, 500)
    return user


@pytest.fixture
def bob(db):
    user = AdultFactory(handle="bob", display_name="Bob")
    give_coins(user, 300)
    return user


def gift_frame(gift, token, count=1, **extra) -> dict:
    return {"gift": gift.pk, "count": count, "client_token": token, **extra}


def gift_events(events) -> list[dict]:
    return [e for e in events if e["type"] in ("gift", "gift.end")]


async def ack_of(socket) -> dict:
    """The sender's ack (the room's `gift` event for the same send may come first)."""
    got = await events_until(
        socket, lambda got: any(e["type"] == "gift.ack" for e in got), timeout=20
    )
    return next(e for e in got if e["type"] == "gift.ack")


async def ack_of_seen(events) -> dict:
    return next(e for e in events if e["type"] == "gift.ack")


async def settle(socket, seconds: float = 0.5) -> None:
    """Let the socket's resume grace pass and drain what arrived (hello aside)."""
    await socket.quiet(seconds)


def test_a_combo_of_ten_roses_reaches_other_viewers_as_one_streak_and_its_end(
    room, rose, ana, host, ws_connect
):
    sockets = ws_connect(room.pk, user=ana), ws_connect(room.pk), ws_connect(room.pk, user=host)

    async def scenario():
        async with sockets[0] as sender, sockets[1] as watcher, sockets[2] as host_socket:
            for s in (sender, watcher, host_socket):
                await s.expect("hello")
                await settle(s, 0.4)
            started = time.monotonic()
            for i in range(10):
                await sender.send("gift.send", ref=f"r{i}", **gift_frame(rose, f"combo-{i}"))
                await asyncio.sleep(0.2)
            sent_in = time.monotonic() - started
            seen = await events_until(
                watcher, lambda got: any(e["type"] == "gift.end" for e in got), timeout=8
            )
            host_seen = await events_until(
                host_socket, lambda got: any(e["type"] == "gift.end" for e in got), timeout=8
            )
            acks = [
                e
                for e in await events_until(
                    sender,
                    lambda got: sum(e["type"] == "gift.ack" for e in got) == 10,
                    timeout=8,
                )
                if e["type"] == "gift.ack"
            ]
            return sent_in, gift_events(seen), gift_events(host_seen), acks

    sent_in, seen, host_seen, acks = run(scenario())
    assert sent_in < 3
    # One streak, a few running counts (not ten events), then its end with the whole count.
    assert len({e["data"]["streak"] for e in seen}) == 1
    updates = [e for e in seen if e["type"] == "gift"]
    assert 1 <= len(updates) <= 4, [e["data"]["count"] for e in updates]
    counts = [e["data"]["count"] for e in updates]
    assert counts == sorted(counts)
    assert counts[0] >= 1
    end = seen[-1]
    assert end["type"] == "gift.end"
    assert end["data"]["count"] == 10
    assert end["data"]["coins"] == 10
    assert end["data"]["sender"] == {"handle": "ana", "name": "Ana"}
    assert end["data"]["gift"]["name"] == "Rose"
    # The host's ranking: Ana first with her 10 coins.
    assert host_seen[-1]["data"]["top"][0] == {
        "user": {"handle": "ana", "name": "Ana"},
        "coins": 10,
    }
    # Every send acknowledged with the balance, debited once each.
    assert [a["data"]["ref"] for a in acks] == [f"r{i}" for i in range(10)]
    assert acks[-1]["data"]["balance"] == 490
    assert wallet.wallet_balance(ana) == 490
    assert GiftSend.objects.filter(sender=ana, session_id=room.pk).count() == 10


def test_the_hosts_goal_moves_with_gifts_and_a_new_viewer_sees_ranking_and_goal(
    room, crown, ana, bob, host, ws_connect
):
    sockets = ws_connect(room.pk, user=host), ws_connect(room.pk, user=ana)
    late_socket = ws_connect(room.pk, user=bob)

    async def scenario():
        async with sockets[0] as host_socket, sockets[1] as sender:
            await host_socket.expect("hello")
            await sender.expect("hello")
            await settle(host_socket, 0.4)
            await sender.send("goal.set", ref="g", coins=100, title="New mic")
            refused = await sender.expect("error")
            await host_socket.send("goal.set", ref="g", coins=100, title="New mic")
            goal = await host_socket.expect("gift.goal")
            await sender.send("gift.send", ref="c", **gift_frame(crown, "crown-1"))
            gift = await host_socket.expect("gift")
            async with late_socket as late:
                hello = await late.expect("hello")
            return refused, goal, gift, hello

    refused, goal, gift, hello = run(scenario())
    assert refused["data"]["code"] == "host_only"
    assert goal["data"]["goal"] == {"target": 100, "progress": 0, "title": "New mic"}
    # A big gift is its own, final event: the goal and the ranking moved with it.
    assert gift["data"]["final"] is True
    assert gift["data"]["count"] == 1
    assert gift["data"]["goal"] == {"target": 100, "progress": 50, "title": "New mic"}
    assert gift["data"]["top"] == [{"user": {"handle": "ana", "name": "Ana"}, "coins": 50}]
    assert hello["data"]["gifts"]["goal"]["progress"] == 50
    assert hello["data"]["gifts"]["top"][0]["coins"] == 50
    room.refresh_from_db()
    assert room.gift_goal_coins == 100
    assert room.gift_goal_title == "New mic"


def test_bad_gift_sends_get_errors_and_the_socket_keeps_working(
    room, rose, crown, ana, host, ws_connect
):
    poor = AdultFactory(handle="poor")
    give_coins(poor, 10)
    minor = UserFactory(handle="kid", birth_date=date.today().replace(year=date.today().year - 15))
    give_coins(minor, 100)
    unknown_age = UserFactory(handle="noage")
    frozen = AdultFactory(handle="frozen")
    give_coins(frozen, 100)
    freeze_gifting(user=frozen, reason="card dispute")
    capped = AdultFactory(handle="capped")
    give_coins(capped, 100)
    update_gifting_settings(user=capped, daily_coin_cap=20)

    bad_payloads = [
        ({"gift": 999_999, "count": 1, "client_token": "t1"}, "gift_unavailable"),
        ({"gift": "rose", "count": 1, "client_token": "t2"}, "gift_unavailable"),
        (gift_frame(rose, "t3", count=0), "invalid_count"),
        (gift_frame(rose, "t4", count=-1), "invalid_count"),
        (gift_frame(rose, "t5", count=100), "invalid_count"),
        (gift_frame(rose, "t6", count="abc"), "invalid_count"),
        ({"gift": rose.pk, "count": 1}, "invalid_client_token"),
        (gift_frame(rose, "bad token!"), "invalid_client_token"),
    ]

    async def errors_for(socket, frames) -> list[str]:
        codes = []
        for i, payload in enumerate(frames):
            await socket.send("gift.send", ref=f"b{i}", **payload)
            event = await socket.expect("error")
            assert event["data"]["ref"] == f"b{i}"
            codes.append(event["data"]["code"])
        return codes

    first = ws_connect(room.pk, user=ana)
    others = [
        (who, user, payload, ws_connect(room.pk, user=user))
        for who, user, payload in [
            ("poor", poor, gift_frame(crown, "p1")),
            ("minor", minor, gift_frame(rose, "m1")),
            ("noage", unknown_age, gift_frame(rose, "n1")),
            ("frozen", frozen, gift_frame(rose, "f1")),
            ("capped", capped, gift_frame(crown, "c1")),
            ("host", host, gift_frame(rose, "h1")),
            ("anonymous", None, gift_frame(rose, "a1")),
        ]
    ]

    async def scenario():
        results = {}
        async with first as s:
            await s.expect("hello")
            results["ana"] = await errors_for(s, [p for p, _ in bad_payloads])
            await s.send("gift.send", ref="ok", **gift_frame(rose, "fine-1"))
            results["ana_ok"] = await ack_of(s)
        for who, user, payload, socket in others:
            async with socket as s:
                await s.expect("hello")
                results[who] = (await errors_for(s, [payload]))[0]
                await s.send("chat.send", text="still here")
                results[who + "_alive"] = (await s.expect("chat.message"))["type"] if user else ""
        return results

    results = run(scenario())
    assert results["ana"] == [code for _, code in bad_payloads]
    assert results["ana_ok"]["data"]["balance"] == 499
    assert results["poor"] == "insufficient_coins"
    assert results["minor"] == "age_restricted"
    assert results["noage"] == "birth_date_required"
    assert results["frozen"] == "gifting_frozen"
    assert results["capped"] == "daily_cap_reached"
    assert results["host"] == "self_gift"
    assert results["anonymous"] == "login_required"
    assert results["poor_alive"] == "chat.message"  # the socket survived its error
    # Nothing moved but Ana's one good rose.
    assert [wallet.wallet_balance(u) for u in (poor, minor, frozen, capped)] == [10, 100, 100, 100]
    assert GiftSend.objects.count() == 1


def test_a_viewer_cannot_send_as_someone_else(room, crown, ana, bob, ws_connect):
    socket = ws_connect(room.pk, user=ana)

    async def scenario():
        async with socket as s:
            await s.expect("hello")
            payload = gift_frame(crown, "spoof-1", sender=bob.pk, user="bob", user_id=bob.pk)
            await s.send("gift.send", ref="x", **payload)
            got = await events_until(
                s, lambda got: {"gift", "gift.ack"} <= {e["type"] for e in got}, timeout=20
            )
            return next(e for e in got if e["type"] == "gift"), await ack_of_seen(got)

    gift, ack = run(scenario())
    assert gift["data"]["sender"]["handle"] == "ana"
    assert ack["data"]["balance"] == 450
    assert wallet.wallet_balance(bob) == 300
    assert list(GiftSend.objects.values_list("sender__handle", flat=True)) == ["ana"]


def test_a_resend_with_the_same_token_after_a_reconnect_debits_once_and_shows_once(
    room, crown, ana, ws_connect
):
    watcher_socket = ws_connect(room.pk)
    first_socket, second_socket = ws_connect(room.pk, user=ana), ws_connect(room.pk, user=ana)

    async def scenario():
        async with watcher_socket as watcher:
            await watcher.expect("hello")
            await settle(watcher, 0.4)
            async with first_socket as first:
                await first.expect("hello")
                await first.send("gift.send", ref="1", **gift_frame(crown, "same-token"))
                first_ack = await ack_of(first)
            await close_quietly(first)
            async with second_socket as second:
                await second.expect("hello")
                await second.send("gift.send", ref="2", **gift_frame(crown, "same-token"))
                second_ack = await ack_of(second)
            shown = gift_events(await watcher.quiet(1.5))
            return first_ack, second_ack, shown

    first_ack, second_ack, shown = run(scenario())
    assert second_ack["data"]["send"] == first_ack["data"]["send"]
    assert second_ack["data"]["balance"] == first_ack["data"]["balance"] == 450
    assert len(shown) == 1
    assert wallet.wallet_balance(ana) == 450
    assert GiftSend.objects.filter(sender=ana).count() == 1


def test_a_sender_past_the_gift_rate_is_told_to_slow_down(room, rose, ana, ws_connect):
    socket = ws_connect(room.pk, user=ana)
    sends = 30

    async def scenario():
        async with socket as s:
            await s.expect("hello")
            started = time.monotonic()
            for i in range(sends):
                await s.send("gift.send", ref=f"q{i}", **gift_frame(rose, f"q-{i}"))
            got = await events_until(
                s,
                lambda got: sum(e["type"] in ("gift.ack", "error") for e in got) == sends,
                timeout=30,
            )
            return [e for e in got if e["type"] in ("gift.ack", "error")], (
                time.monotonic() - started
            )

    replies, elapsed = run(scenario())
    refused = [e for e in replies if e["type"] == "error"]
    accepted = len(replies) - len(refused)
    # A burst of 10, then 5 a second (LIVE_GIFT_RATE 10 per 2 s in the test server).
    assert accepted <= 10 + 5 * elapsed + 1
    if elapsed < 3:  # a machine too busy to send 30 in 3 s refuses nothing, rightly
        assert refused
    assert all(e["data"]["code"] == "rate_limited" for e in refused)
    assert all("Slow down" in e["data"]["detail"] for e in refused)
    assert wallet.wallet_balance(ana) == 500 - accepted
    assert GiftSend.objects.filter(sender=ana).count() == accepted


def test_the_supporter_level_shows_beside_a_chat_name_only_if_the_viewer_allows_it(
    room, crown, ana, bob, ws_connect
):
    update_gifting_settings(user=ana, show_supporter_level=True)  # Bob keeps the default: off
    sockets = ws_connect(room.pk, user=ana), ws_connect(room.pk, user=bob)

    async def chat_after_gift(s, token):
        await s.expect("hello")
        await s.send("gift.send", ref="g", **gift_frame(crown, token))
        await ack_of(s)
        await asyncio.sleep(0.5)  # the level loads in the background after the send
        await s.send("chat.send", text="hi host")
        got = await events_until(s, lambda got: any(e["type"] == "chat.message" for e in got))
        return next(e for e in got if e["type"] == "chat.message")

    async def scenario():
        async with sockets[0] as a, sockets[1] as b:
            return await chat_after_gift(a, "lv-a"), await chat_after_gift(b, "lv-b")

    ana_says, bob_says = run(scenario())
    assert ana_says["data"]["user"]["level"] == 2  # 50 coins to this host: level 2 (10-99)
    assert "level" not in bob_says["data"]["user"]


def test_a_combo_sent_through_two_processes_is_still_one_streak(room, rose, ana, room_servers):
    from live.tests.room_support import client

    one, two = room_servers.start(), room_servers.start()
    sockets = (
        client(one, room.pk, user=ana),
        client(two, room.pk, user=ana),
        client(two, room.pk),
    )

    async def scenario():
        async with sockets[0] as via_one, sockets[1] as via_two, sockets[2] as watcher:
            for s in (via_one, via_two, watcher):
                await s.expect("hello")
                await settle(s, 0.4)
            for i in range(6):
                await (via_one, via_two)[i % 2].send(
                    "gift.send", ref=f"x{i}", **gift_frame(rose, f"two-{i}")
                )
                await asyncio.sleep(0.2)
            got = await events_until(
                watcher, lambda got: any(e["type"] == "gift.end" for e in got), timeout=15
            )
            return gift_events(got + await watcher.quiet(1.5))  # and nothing after its end

    seen = run(scenario())
    assert len({e["data"]["streak"] for e in seen}) == 1
    assert seen[-1]["type"] == "gift.end"
    assert seen[-1]["data"]["count"] == 6
    assert sum(e["type"] == "gift.end" for e in seen) == 1  # ended once, by one process
    assert wallet.wallet_balance(ana) == 494
