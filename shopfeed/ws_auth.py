"""Who is on the other end of a WebSocket: a browser session, or an API client's token.

Browsers send their cookies to any site's WebSocket, so a socket that carries an Origin is
admitted only from our own hosts (Channels' AllowedHostsOriginValidator). API clients (apps,
scripts) send no Origin and authenticate with their DRF token, as `Authorization: Token <key>`
or `?token=<key>` (browsers cannot set headers on a WebSocket). A socket without an Origin is
admitted only with a token, and its cookies are ignored.
"""

from urllib.parse import parse_qs

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.security.websocket import AllowedHostsOriginValidator, WebsocketDenier


def token_key(scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            kind, _, key = value.decode("latin-1").partition(" ")
            if kind.lower() == "token" and key.strip():
                return key.strip()
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    keys = query.get("token")
    return keys[0] if keys and keys[0] else None


def _has_origin(scope) -> bool:
    return any(name == b"origin" for name, _ in scope.get("headers", []))


@database_sync_to_async
def _token_user(key: str):
    from rest_framework.authtoken.models import Token

    token = Token.objects.select_related("user").filter(key=key).first()
    if token is None or not token.user.is_active:
        return None
    return token.user


class TokenAuthMiddleware:
    """Put the token's user in scope["user"]; an unknown token is refused, not anonymous."""

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        key = token_key(scope)
        if key is not None:
            user = await _token_user(key)
            if user is None:
                return await WebsocketDenier()(scope, receive, send)
            scope = dict(scope, user=user)
        return await self.inner(scope, receive, send)


class OriginOrTokenValidator:
    """Browsers (which always send an Origin) must come from our hosts; clients without an
    Origin must bring a token, and their cookies are dropped."""

    def __init__(self, inner):
        self.inner = inner
        self.origin_checked = AllowedHostsOriginValidator(inner)

    async def __call__(self, scope, receive, send):
        if not _has_origin(scope) and token_key(scope) is not None:
            headers = [(k, v) for k, v in scope.get("headers", []) if k != b"cookie"]
            return await self.inner(dict(scope, headers=headers), receive, send)
        return await self.origin_checked(scope, receive, send)


def websocket_stack(inner):
    """Origin check, then session cookie auth, then token auth (which wins when present)."""
    return OriginOrTokenValidator(AuthMiddlewareStack(TokenAuthMiddleware(inner)))
