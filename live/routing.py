"""WebSocket routes of the live app.

The room (`/ws/live/<session_id>/`) is a plain ASGI application (live/room/consumers.py) that
shopfeed/asgi.py dispatches to before Channels' router: `asgi_routes` maps a path pattern to
an app called with the pattern's named groups (strings) as keyword arguments.
`websocket_urlpatterns` are the live app's Channels routes (none at present)."""

import re

from .room.consumers import live_room

# As Django's <int:session_id> path converter: ASCII digits.
asgi_routes = [(re.compile(r"/ws/live/(?P<session_id>[0-9]+)/"), live_room)]

websocket_urlpatterns: list = []
