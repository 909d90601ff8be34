"""WebSocket routes of the whole project (composed into shopfeed/asgi.py).

`asgi_routes`: (compiled path pattern, ASGI app) pairs matched in full against the scope's
path before Channels is involved; the app gets the pattern's named groups as keyword
arguments and runs its own door (shopfeed.ws_auth.authenticate). `websocket_urlpatterns`:
Channels routes, behind shopfeed.ws_auth.websocket_stack."""

from live.routing import asgi_routes as live_asgi_routes
from live.routing import websocket_urlpatterns as live_websocket_urlpatterns

asgi_routes: list = [*live_asgi_routes]
websocket_urlpatterns: list = [*live_websocket_urlpatterns]
