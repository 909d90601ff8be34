"""The WebSocket door's origin rule, in process (Channels' testing communicator).

A socket with an Origin is admitted only from the exact origin (scheme, host, port) the
request was made to, or from CSRF_TRUSTED_ORIGINS. The real-server cases are in
live/tests/test_ws_security.py.
"""

import pytest
from asgiref.sync import async_to_sync
from channels.generic.websocket import AsyncWebsocketConsumer

from shopfeed.testing import websocket_communicator
from shopfeed.ws_auth import websocket_stack


class Echo(AsyncWebsocketConsumer):
    async def connect(self):
        await self.accept()


def admitted(origin: str | None, *, host: str = "shop.example:8000", scheme: str = "ws") -> bool:
    headers = [(b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))

    async def attempt():
        communicator = websocket_communicator(websocket_stack(Echo.as_asgi()), "/ws/", headers)
        communicator.scope["scheme"] = scheme
        connected, _ = await communicator.connect(timeout=5)
        await communicator.disconnect()
        return connected

    return async_to_sync(attempt)()


@pytest.fixture(autouse=True)
def hosts(settings):
    settings.ALLOWED_HOSTS = ["shop.example"]
    settings.CSRF_TRUSTED_ORIGINS = []
    return settings


def test_a_page_of_our_own_origin_is_admitted():
    assert admitted("http://shop.example:8000")


def test_the_same_host_on_another_port_is_refused():
    assert not admitted("http://shop.example:9999")


def test_the_same_host_over_another_scheme_is_refused():
    assert not admitted("https://shop.example:8000")


def test_a_secure_socket_needs_a_secure_origin():
    assert admitted("https://shop.example", host="shop.example", scheme="wss")
    assert not admitted("http://shop.example", host="shop.example", scheme="wss")


def test_default_ports_are_the_same_origin():
    assert admitted("https://shop.example", host="shop.example:443", scheme="wss")


def test_another_host_is_refused():
    assert not admitted("http://evil.example:8000")


def test_an_opaque_null_origin_is_refused():
    assert not admitted("null")


def test_a_host_header_outside_allowed_hosts_is_refused_even_when_origin_matches_it():
    # DNS rebinding: the attacker's name pointed at our address, Origin and Host agree.
    assert not admitted("http://rebind.example:8000", host="rebind.example:8000")


def test_an_origin_in_csrf_trusted_origins_is_admitted(hosts):
    hosts.CSRF_TRUSTED_ORIGINS = ["https://app.shop.example", "https://*.partner.example"]

    assert admitted("https://app.shop.example")
    assert admitted("https://live.partner.example")
    assert not admitted("http://app.shop.example")
    assert not admitted("https://partner.example.evil")
