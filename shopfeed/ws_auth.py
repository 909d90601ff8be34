"""Who may open a WebSocket, and as whom: the door in front of every socket route.

In order, before anything reads the session:

1. Connects are counted per client address (WS_CONNECT_RATE); over the limit the handshake is
   answered 429 with Retry-After.
2. Browsers send their cookies to any site's WebSocket, so a socket that carries an Origin is
   admitted only from our own origin: the scheme, host and port the request itself was made to
   (its Host header, ws -> http, wss -> https; the host must be in ALLOWED_HOSTS), or an origin
   listed in CSRF_TRUSTED_ORIGINS. Channels' AllowedHostsOriginValidator compares hosts only,
   so a page on another port of the same host would pass it.
3. A socket without an Origin (an app, a script) must bring credentials: an
   `Authorization: Token <key>` header or a single-use `?ticket=` (shopfeed.ws_tickets); its
   cookies are ignored. A long-lived token in the query string is refused: URLs end up in logs.

Then a ticket or token header, when present, decides the user (an unknown one is refused, not
treated as anonymous), else the session cookie does. Both are resolved on the event loop from a
summary of the user kept in Redis (shopfeed.ws_identity): a signed-in join costs one Redis round
trip and no SQL for a user seen in the last WS_AUTH_CACHE_SECONDS, where Channels'
AuthMiddlewareStack cost a thread hop and two queries per socket.
"""

from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http.cookie import parse_cookie
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain

from shopfeed import throttling, ws_identity, ws_tickets

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def _query(scope) -> dict[str, list[str]]:
    return parse_qs(scope.get("query_string", b"").decode("latin-1"))


def header_token(scope) -> str | None:
    value = _header(scope, b"authorization")
    if value is None:
        return None
    kind, _, key = value.partition(" ")
    return key.strip() if kind.lower() == "token" and key.strip() else None


def ticket_of(scope) -> str | None:
    tickets = _query(scope).get("ticket")
    return tickets[0] if tickets and tickets[0] else None


# --- origin ------------------------------------------------------------------------------------


def _origin_tuple(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) with the default port filled in; None when it cannot be read."""
    try:
        parts = urlsplit(url.strip().lower())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.scheme, parts.hostname, port or _DEFAULT_PORTS[parts.scheme]


def _host_allowed(host: str) -> bool:
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:  # as Django's own HttpRequest.get_host()
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    domain, _port = split_domain_port(host)
    return bool(domain) and validate_host(domain, allowed)


def _trusted(origin: tuple[str, str, int], raw: str) -> bool:
    """CSRF_TRUSTED_ORIGINS, read as Django's CSRF check reads it (`https://*.example.com`)."""
    for entry in settings.CSRF_TRUSTED_ORIGINS:
        if "*" in entry:
            scheme, _, pattern = entry.lower().partition("://")
            netloc = urlsplit(raw.strip().lower()).netloc
            if scheme == origin[0] and is_same_domain(netloc, pattern.lstrip("*")):
                return True
        elif _origin_tuple(entry) == origin:
            return True
    return False


def origin_allowed(scope) -> bool:
    raw, host = _header(scope, b"origin"), _header(scope, b"host")
    if not raw or not host or not _host_allowed(host):
        return False
    origin = _origin_tuple(raw)
    if origin is None:  # "null" (sandboxed frames, file://) and anything unreadable
        return False
    scheme = "https" if scope.get("scheme") == "wss" else "http"
    return origin == _origin_tuple(f"{scheme}://{host}") or _trusted(origin, raw)


# --- refusing ----------------------------------------------------------------------------------


async def deny(scope, receive, send, *, status: int, reason: str, headers=()) -> None:
    """Refuse the handshake: an HTTP answer where the server can send one (uvicorn), else a
    close before accept (which servers answer with 403)."""
    await receive()  # websocket.connect
    if "websocket.http.response" in (scope.get("extensions") or {}):
        await send(
            {
                "type": "websocket.http.response.start",
                "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), *headers],
            }
        )
        await send({"type": "websocket.http.response.body", "body": reason.encode()})
    else:
        await send({"type": "websocket.close", "code": 1013 if status == 429 else 1008})


async def pass_door(scope, receive, send) -> bool:
    """Steps 1-3 of the module docstring: False when the handshake was refused (and answered
    here). A socket without an Origin passes with credentials; its cookies must be ignored."""
    client = scope.get("client") or ("unknown", 0)
    wait = await throttling.acount_websocket_connect(client[0])
    if wait is not None:
        await deny(
            scope, receive, send, status=429, reason="Too many connections; try again later.",
            headers=[(b"retry-after", str(wait).encode())],
        )  # fmt: skip
        return False
    if "token" in _query(scope):
        await deny(
            scope, receive, send, status=403,
            reason="API tokens are not accepted in the URL: send an Authorization header, "
            "or connect with ?ticket= from POST /api/v1/live/ws-ticket/.",
        )  # fmt: skip
        return False
    if _header(scope, b"origin") is not None:
        if not origin_allowed(scope):
            await deny(scope, receive, send, status=403, reason="Origin not allowed.")
            return False
        return True
    if header_token(scope) is None and ticket_of(scope) is None:
        await deny(scope, receive, send, status=403, reason="No Origin and no credentials.")
        return False
    return True


class SocketGate:
    """Steps 1-3 of the module docstring, as middleware (Channels routes)."""

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        if not await pass_door(scope, receive, send):
            return None
        if _header(scope, b"origin") is None:
            headers = [(k, v) for k, v in scope.get("headers", []) if k != b"cookie"]
            scope = dict(scope, headers=headers)
        return await self.inner(scope, receive, send)


# --- credentials -------------------------------------------------------------------------------


def session_key_of(scope) -> str | None:
    """The session cookie's value, when the socket carries one (browsers only: the gate drops
    the cookies of sockets without an Origin)."""
    raw = _header(scope, b"cookie")
    if not raw:
        return None
    key = parse_cookie(raw).get(settings.SESSION_COOKIE_NAME)
    # Django's session keys are 32 characters; anything much longer is not one of ours.
    return key if key and len(key) <= 128 else None


async def identify(scope, receive, send) -> tuple[object, str | None] | None:
    """(user, session key) of a socket that passed the door: from a ticket, a token header or
    the session cookie, in that order, on the event loop (shopfeed.ws_identity). None when an
    unknown ticket or token refused the handshake (answered here): it is not treated as
    anonymous. The session key is the cookie's, if any (browsers only: cookies of a socket
    without an Origin are not read)."""
    ticket, key = ticket_of(scope), header_token(scope)
    if ticket is not None or key is not None:
        if ticket is not None:
            user = await ws_tickets.aredeem_ticket(ticket)
        else:
            assert key is not None  # one of the two
            user = await ws_identity.user_for("t", key)
        if user is None:
            await deny(
                scope, receive, send, status=403, reason="Unknown, used or expired credentials."
            )
            return None
        return user, None
    session_key = session_key_of(scope)
    user = await ws_identity.user_for("s", session_key) if session_key else None
    return user or AnonymousUser(), session_key


async def authenticate(scope, receive, send) -> tuple[object, str | None] | None:
    """The whole door for an app that is not behind websocket_stack (the live room,
    live/room/consumers.py): None when refused (answered), else (user, session key). Runs once,
    at the handshake: nothing of it stays alive with the socket."""
    if not await pass_door(scope, receive, send):
        return None
    return await identify(scope, receive, send)


class CredentialsMiddleware:
    """scope["user"] and scope["session_key"] from identify(), as middleware."""

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        who = await identify(scope, receive, send)
        if who is None:
            return None
        user, session_key = who
        scope = dict(scope, user=user, session_key=session_key)
        return await self.inner(scope, receive, send)


def websocket_stack(inner):
    """Gate (rate, origin, credentials present), then who the socket is."""
    return SocketGate(CredentialsMiddleware(inner))
