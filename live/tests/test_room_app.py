"""The room's own ASGI app (live/room/consumers.py) beside Channels (shopfeed/asgi.py): the room
path goes to the lean app, every other WebSocket path still passes the same door in front of
Channels, and the lean app behaves the same on a server without uvicorn's raw path (Channels'
in-memory communicator: no HTTP denial response, sends stepped by hand)."""

import asyncio
import json

import pytest
from channels.testing import WebsocketCommunicator
from django.test import Client
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from live.room import hub as hub_module
from live.tests.conftest import reset_room, run
from live.tests.selling_support import live_session, product_with_variant
from shopfeed.accounts.tests.factories import UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


@pytest.fixture
def room(shop):
    session = live_session(shop, product_with_variant(shop, title="Glow serum")[0])
    reset_room(session.pk)
    return session


def _status_of_handshake(url: str, origin: str) -> int:
    async def scenario():
        async with connect(url, origin=origin, open_timeout=10):
            pass

    with pytest.raises(InvalidStatus) as refused:
        run(scenario())
    return refused.value.response.status_code


@pytest.mark.services
@pytest.mark.parametrize("path", ["/ws/elsewhere/", "/ws/live/12x/", "/ws/live/1/extra/"])
def test_other_websocket_paths_still_pass_the_same_door_in_front_of_channels(path, asgi_server):
    # Not the room's pattern: Channels' stack, whose gate refuses a foreign page first.
    url = f"ws://127.0.0.1:{asgi_server.port}{path}"
    assert _status_of_handshake(url, "http://evil.example") == 403


@pytest.mark.services
def test_the_room_path_refuses_a_foreign_page_before_reading_anything(room, asgi_server):
    url = f"ws://127.0.0.1:{asgi_server.port}/ws/live/{room.pk}/"
    assert _status_of_handshake(url, f"http://127.0.0.1:{asgi_server.port + 1}") == 403


@pytest.fixture
def in_process_room(settings):
    """The room with the in-process bus (no Redis), as `make run` embeds it."""
    from live.room.bus import get_bus

    settings.REDIS_URL = ""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    get_bus.cache_clear()
    yield
    get_bus.cache_clear()
    hub_module._hub = None


def test_without_uvicorn_the_room_refuses_admits_and_answers_with_the_same_codes(
    in_process_room, shop
):
    from channels.db import database_sync_to_async
    from django.db import connections

    from shopfeed.asgi import application

    room = live_session(shop, product_with_variant(shop, title="Glow serum")[0])
    ana = UserFactory(handle="ana")
    browser = Client()
    browser.force_login(ana)
    ours = [(b"origin", b"http://testserver"), (b"host", b"testserver")]
    signed_in = [*ours, (b"cookie", f"sessionid={browser.cookies['sessionid'].value}".encode())]
    path = f"/ws/live/{room.pk}/"

    async def scenario():
        got = {}
        # No HTTP denial response on this server: refused before accept (a 403 close).
        foreign = WebsocketCommunicator(
            application, path, headers=[(b"origin", b"http://evil.example"), ours[1]]
        )
        got["foreign"] = await foreign.connect()
        unknown = WebsocketCommunicator(application, "/ws/live/999999/", headers=ours)
        assert (await unknown.connect())[0]
        got["unknown"] = (json.loads(await unknown.receive_from()), await unknown.receive_output())
        viewer = WebsocketCommunicator(application, path, headers=ours)
        chatter = WebsocketCommunicator(application, path, headers=signed_in)
        for socket in (viewer, chatter):
            assert (await socket.connect())[0]
            assert json.loads(await socket.receive_from())["type"] == "hello"
        await viewer.send_to(text_data=json.dumps({"action": "chat.send", "text": "hi", "ref": 1}))
        got["anonymous"] = json.loads(await viewer.receive_from())
        await viewer.send_to(bytes_data=b"\x00")
        got["binary"] = json.loads(await viewer.receive_from())
        await chatter.send_to(text_data=json.dumps({"action": "chat.send", "text": "hello"}))
        while (event := json.loads(await viewer.receive_from(timeout=5)))["type"] != "chat.message":
            pass
        got["chat"] = event
        for socket in (viewer, chatter):
            await socket.disconnect()
        await asyncio.sleep(0.05)
        got["left"] = hub_module.get_hub().rooms[room.pk].count
        await database_sync_to_async(connections.close_all)()
        await hub_module.get_hub().upkeep.shutdown()
        return got

    got = asyncio.run(scenario())
    assert got["foreign"] == (False, 1008)
    error, close = got["unknown"]
    assert error["data"]["code"] == "not_found"
    assert close == {"type": "websocket.close", "code": 4404}
    assert got["anonymous"]["data"]["code"] == "login_required"
    assert got["anonymous"]["data"]["ref"] == 1
    assert got["binary"]["data"]["code"] == "bad_frame"
    assert got["chat"]["data"]["text"] == "hello"
    assert got["chat"]["data"]["user"]["handle"] == "ana"
    assert got["left"] == 0  # both sockets left the room when they closed
