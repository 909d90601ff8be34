"""The live page renders chat that the room sends in batches (live/chat/batching.py), in a real
browser against the real ASGI server: a burst from a dozen chatters shows every message once."""

import asyncio
import re
import threading

import pytest

from live.stream import services as sessions
from live.tests.conftest import reset_room
from live.tests.test_live_browser import open_live_page
from shopfeed.accounts.tests.factories import CreatorFactory, UserFactory
from shops.tests.factories import ProductFactory, ShopFactory, VariantFactory

pytestmark = [
    pytest.mark.services,
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]


def in_thread(coro_fn):
    """Run an asyncio scenario in a thread of its own (the browser's sync API holds this one)."""
    out: dict = {}

    def target():
        try:
            out["value"] = asyncio.run(asyncio.wait_for(coro_fn(), 60))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            out["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(90)
    if "error" in out:
        raise out["error"]
    return out["value"]


def test_a_burst_of_chat_sent_in_batches_shows_every_message_once(asgi_server, browser, ws_connect):
    from django.utils import timezone

    host = CreatorFactory(username="ava", handle="ava", display_name="Ava")
    shop = ShopFactory(owner=host, name="Ava's")
    tote = ProductFactory(shop=shop, title="Canvas Tote")
    VariantFactory(product=tote, option1="", price_amount=1800, quantity=9)
    session = sessions.schedule_session(
        host=host, title="Chatty", scheduled_at=timezone.now(), product_ids=[tote.pk]
    )
    session = sessions.go_live(session=session, by=host)
    reset_room(session.pk)
    watcher = UserFactory(username="wes", handle="wes")
    chatters = [ws_connect(session.pk, user=UserFactory(handle=f"burst{n}")) for n in range(12)]

    async def burst():
        await asyncio.gather(*(c.__aenter__() for c in chatters))
        await asyncio.gather(*(c.expect("hello", timeout=20) for c in chatters))
        await asyncio.sleep(0.5)
        await asyncio.gather(
            *(c.send("chat.send", text=f"burst message {n}") for n, c in enumerate(chatters))
        )
        for c in chatters:  # each has every message (alone or in batches)
            got = set()
            while len(got) < len(chatters):
                event = await c.recv(10)
                if event["type"] == "chat.message":
                    got.add(event["data"]["text"])
        frames = [f for c in chatters for f in c.frames]
        await asyncio.gather(*(c.ws.close() for c in chatters))
        return frames

    context, page = open_live_page(
        browser, asgi_server, watcher, session, viewport={"width": 390, "height": 844}
    )
    try:
        frames = in_thread(burst)
        page.locator("#chat-list li", has_text="burst message 11").wait_for(timeout=10000)
        for n in range(12):
            mine = page.locator("#chat-list li", has_text=re.compile(rf"burst message {n}$"))
            mine.wait_for(timeout=5000)
        shown = page.locator("#chat-list li").all_inner_texts()
    finally:
        context.close()

    assert any(f["type"] == "chat.batch" and len(f["data"]["events"]) > 1 for f in frames)
    texts = [t for t in shown if "burst message" in t]
    assert len(texts) == 12  # each once
