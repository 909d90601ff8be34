"""The room's door over a real uvicorn: exact origins, single-use tickets instead of tokens in
the URL, and a per-address limit on connects (shopfeed/ws_auth.py)."""

import sys
import time

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from websockets.exceptions import InvalidStatus

from live.models import ChatMessage
from live.tests.conftest import ROOM_ENV, Server, reset_room, run
from live.tests.selling_support import live_session, product_with_variant
from shopfeed.accounts.tests.factories import UserFactory
from shopfeed.testing import wait_until

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres,
    pytest.mark.services,
]

TICKETS = "/api/v1/live/ws-ticket/"


@pytest.fixture
def room(shop):
    session = live_session(shop, product_with_variant(shop, title="Glow serum")[0])
    reset_room(session.pk)
    return session


@pytest.fixture
def ana(db):
    return UserFactory(handle="ana", display_name="Ana")


def ticket_for(user) -> str:
    client = APIClient()
    client.force_authenticate(user)
    response = client.post(TICKETS)
    assert response.status_code == 200
    return response.json()["ticket"]


def refusal(socket) -> int:
    """The HTTP status the handshake was answered with."""

    async def scenario():
        async with socket:
            pass

    with pytest.raises(InvalidStatus) as refused:
        run(scenario())
    return refused.value.response


def chat_as(socket, text="from the app") -> dict:
    async def scenario():
        async with socket:
            await socket.expect("hello")
            await socket.send("chat.send", text=text)
            return await socket.expect("chat.message")

    return run(scenario())


# --- origin ------------------------------------------------------------------------------------


def test_a_page_on_another_port_of_our_host_is_refused(room, ana, ws_connect, asgi_server):
    other_port = asgi_server.port + 1 if asgi_server.port < 65535 else asgi_server.port - 1
    socket = ws_connect(room.pk, user=ana, origin=f"http://127.0.0.1:{other_port}")

    assert refusal(socket).status_code == 403


def test_a_page_of_our_host_over_https_is_refused_on_a_plain_socket(room, ana, ws_connect):
    socket = ws_connect(room.pk, user=ana, origin=None, headers={})
    socket.origin = socket.url.replace("ws://", "https://").split("/ws/")[0]

    assert refusal(socket).status_code == 403


# --- tickets -----------------------------------------------------------------------------------


def test_an_app_connects_with_a_ticket_and_chats_as_its_user(room, ana, ws_connect):
    socket = ws_connect(room.pk, origin=None, query=f"ticket={ticket_for(ana)}")

    message = chat_as(socket)

    assert message["data"]["user"]["handle"] == "ana"
    # Chat is stored in batches a moment after it is sent (live.chat.log).
    stored = wait_until(lambda: ChatMessage.objects.filter(session=room).first(), timeout=10)
    assert stored.user == ana


def test_a_page_of_our_origin_may_use_a_ticket_too(room, ana, ws_connect):
    socket = ws_connect(room.pk, query=f"ticket={ticket_for(ana)}")

    assert chat_as(socket)["data"]["user"]["handle"] == "ana"


def test_a_ticket_opens_one_socket_only(room, ana, ws_connect):
    ticket = ticket_for(ana)
    chat_as(ws_connect(room.pk, origin=None, query=f"ticket={ticket}"))

    again = ws_connect(room.pk, origin=None, query=f"ticket={ticket}")

    assert refusal(again).status_code == 403


def test_an_expired_ticket_is_refused(room, ana, ws_connect, settings):
    settings.WS_TICKET_SECONDS = 1
    ticket = ticket_for(ana)
    time.sleep(2.1)

    assert refusal(ws_connect(room.pk, origin=None, query=f"ticket={ticket}")).status_code == 403


def test_a_made_up_ticket_is_refused(room, ws_connect):
    socket = ws_connect(room.pk, origin=None, query="ticket=not-a-ticket")

    assert refusal(socket).status_code == 403


def test_a_ticket_does_not_help_a_foreign_page(room, ana, ws_connect):
    socket = ws_connect(room.pk, origin="http://evil.example", query=f"ticket={ticket_for(ana)}")

    assert refusal(socket).status_code == 403


def test_an_api_token_in_the_url_is_refused(room, ana, ws_connect):
    token = Token.objects.create(user=ana).key

    response = refusal(ws_connect(room.pk, origin=None, query=f"token={token}"))

    assert response.status_code == 403
    assert b"ticket" in response.body
    assert not ChatMessage.objects.exists()


# --- connects per address ----------------------------------------------------------------------


@pytest.fixture
def strict_server(_room_servers, redis_url, transactional_db, tmp_path_factory) -> Server:
    """A second room server allowing 3 connects a minute per address (the shared one is lax)."""
    from shopfeed.testing import (
        Process,
        child_env,
        database_url_for_tests,
        free_port,
        wait_for_port,
    )

    key = ("strict", redis_url, database_url_for_tests())
    server = _room_servers.get(key)
    if server is None or server.process.proc.poll() is not None:
        port = free_port()
        log = tmp_path_factory.mktemp("strict-room-server") / "uvicorn.log"
        args = [
            sys.executable, "-m", "uvicorn", "shopfeed.asgi:application",
            "--host", "127.0.0.1", "--port", str(port), "--ws", "websockets-sansio",
            "--lifespan", "off", "--log-level", "warning",
        ]  # fmt: skip
        env = child_env(REDIS_URL=redis_url, **{**ROOM_ENV, "WS_CONNECT_RATE": "3/min"})
        process = Process(args, env, log)
        wait_for_port(port, timeout=30)
        server = _room_servers[key] = Server(port=port, process=process)
    return server


def test_connects_past_the_per_address_limit_get_429_with_retry_after(room, ana, strict_server):
    from live.tests.conftest import RoomClient, session_cookie

    cookie = {"Cookie": f"sessionid={session_cookie(ana)}"}

    def socket():
        return RoomClient(strict_server.url(room.pk), cookie, strict_server.origin)

    async def three_viewers():
        for _ in range(3):
            async with socket() as viewer:
                await viewer.expect("hello")

    # The count is per fixed minute (shopfeed.throttling): do not start in its last 15 s, so
    # that a loaded machine does not carry the fourth connect into the next window (four
    # connects take a few seconds even under load).
    into_minute = time.time() % 60
    if into_minute > 45:
        time.sleep(60 - into_minute + 0.1)
    run(three_viewers())
    refused = refusal(socket())

    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
