"""WebSocket routes of the whole project (composed into shopfeed/asgi.py)."""

from live.routing import websocket_urlpatterns as live_websocket_urlpatterns

websocket_urlpatterns: list = [*live_websocket_urlpatterns]
