"""Who a socket is, resolved without the database for a user seen recently
(shopfeed/ws_identity.py), over a real uvicorn and Redis: every way a credential is revoked
stops the next socket at once, or (for what no signal announces) within WS_AUTH_CACHE_SECONDS."""

import time

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from rest_framework.authtoken.models import Token
from websockets.exceptions import InvalidStatus

from live.tests.conftest import RoomClient, reset_room, run
from live.tests.selling_support import live_session
from shopfeed.accounts.tests.factories import UserFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres,
    pytest.mark.services,
]


@pytest.fixture
def room(shop):
    session = live_session(shop)
    reset_room(session.pk)
    return session


@pytest.fixture
def ana(db):
    return UserFactory(handle="ana", display_name="Ana")


def signed_in(user) -> tuple[Client, str]:
    browser = Client()
    browser.force_login(user)
    return browser, browser.cookies["sessionid"].value


def chat_as(socket, text: str = "hi") -> str:
    """Who the room takes the socket for: the handle its chat shows, or the error's code."""

    async def scenario():
        async with socket:
            await socket.expect("hello")
            await socket.send("chat.send", text=text)
            while True:
                event = await socket.recv()
                if event["type"] == "chat.message" and event["data"]["text"] == text:
                    return event["data"]["user"]["handle"]
                if event["type"] == "error":
                    return event["data"]["code"]

    return run(scenario())


def refused(socket) -> int:
    """The HTTP status a refused handshake was answered with."""

    async def scenario():
        async with socket:
            pass

    with pytest.raises(InvalidStatus) as refusal:
        run(scenario())
    return refusal.value.response.status_code


def cookie(key: str) -> dict:
    return {"Cookie": f"sessionid={key}"}


def test_a_session_chats_as_its_user_and_after_logging_out_only_watches(room, ana, ws_connect):
    browser, key = signed_in(ana)
    assert chat_as(ws_connect(room.pk, headers=cookie(key)), "first") == "ana"
    assert chat_as(ws_connect(room.pk, headers=cookie(key)), "again") == "ana"  # from Redis

    assert browser.post("/accounts/logout/").status_code == 302

    assert chat_as(ws_connect(room.pk, headers=cookie(key)), "after") == "login_required"


def test_a_password_change_voids_the_users_other_sessions_at_once(room, ana, ws_connect):
    _browser, key = signed_in(ana)
    assert chat_as(ws_connect(room.pk, headers=cookie(key)), "before") == "ana"

    ana.set_password("a brand new secret 42")
    ana.save()

    assert chat_as(ws_connect(room.pk, headers=cookie(key)), "after") == "login_required"


def test_a_deactivated_user_is_anonymous_on_the_next_socket(room, ana, ws_connect):
    _browser, key = signed_in(ana)
    token = Token.objects.create(user=ana)
    assert chat_as(ws_connect(room.pk, headers=cookie(key)), "before") == "ana"
    assert chat_as(ws_connect(room.pk, origin=None, token=token.key), "app") == "ana"

    ana.is_active = False
    ana.save(update_fields=["is_active"])

    assert chat_as(ws_connect(room.pk, headers=cookie(key)), "after") == "login_required"
    assert refused(ws_connect(room.pk, origin=None, token=token.key)) == 403


def test_a_deleted_token_is_refused_at_once(room, ana, ws_connect):
    token = Token.objects.create(user=ana)
    assert chat_as(ws_connect(room.pk, origin=None, token=token.key)) == "ana"

    token.delete()

    assert refused(ws_connect(room.pk, origin=None, token=token.key)) == 403


def test_a_renamed_user_chats_under_the_new_handle_at_once(room, ana, ws_connect):
    _browser, key = signed_in(ana)
    assert chat_as(ws_connect(room.pk, headers=cookie(key)), "before") == "ana"

    ana.handle = "ana_b"
    ana.save()

    assert chat_as(ws_connect(room.pk, headers=cookie(key)), "after") == "ana_b"


def test_a_session_deleted_without_a_signal_stops_within_the_cache_time(room, ana, room_servers):
    server = room_servers.start(WS_AUTH_CACHE_SECONDS="2")
    _browser, key = signed_in(ana)

    def socket():
        return RoomClient(server.url(room.pk), cookie(key), server.origin)

    assert chat_as(socket(), "before") == "ana"

    Session.objects.filter(session_key=key).delete()  # a queryset delete sends no signal
    time.sleep(2.5)

    assert chat_as(socket(), "after") == "login_required"
