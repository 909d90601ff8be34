"""ASGI entry point: HTTP through Django, WebSockets through Channels (DESIGN.md section 5)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shopfeed.settings")
# Read by settings as they load (just below): this process pools its database connections.
os.environ.setdefault("SHOPFEED_SERVER", "asgi")

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from shopfeed.routing import websocket_urlpatterns  # noqa: E402
from shopfeed.ws_auth import websocket_stack  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # WebSockets carry cookies from any origin: the Origin is checked before the session
        # is read; API clients without an Origin authenticate with their token instead.
        "websocket": websocket_stack(URLRouter(websocket_urlpatterns)),
    }
)
