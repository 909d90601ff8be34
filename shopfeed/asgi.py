"""ASGI entry point: HTTP through Django, WebSockets through Channels, except the live room's
sockets, which go straight to their own lean ASGI app (DESIGN.md sections 5 and 9)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shopfeed.settings")
# Read by settings as they load (just below): this process pools its database connections.
os.environ.setdefault("SHOPFEED_SERVER", "asgi")

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from shopfeed.routing import asgi_routes, websocket_urlpatterns  # noqa: E402
from shopfeed.ws_auth import websocket_stack  # noqa: E402

channels_application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # WebSockets carry cookies from any origin: the Origin is checked before the session
        # is read; API clients without an Origin authenticate with their token instead.
        "websocket": websocket_stack(URLRouter(websocket_urlpatterns)),
    }
)


def _routed(scope, receive, send):
    """The coroutine of the lean app whose path pattern matches, else None."""
    path, root = scope["path"], scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    for pattern, app in asgi_routes:
        match = pattern.fullmatch(path)
        if match is not None:
            return app(scope, receive, send, **match.groupdict())
    return None


async def application(scope, receive, send):
    # The live room holds thousands of idle sockets per process: it runs without Channels'
    # per-socket middleware frames and consumer tasks (live/room/consumers.py), and checks
    # the same door itself (shopfeed.ws_auth.authenticate). The match is made in a helper so
    # that nothing of it stays in this frame for the socket's life.
    if scope["type"] == "websocket":
        routed = _routed(scope, receive, send)
        if routed is not None:
            return await routed
    return await channels_application(scope, receive, send)
