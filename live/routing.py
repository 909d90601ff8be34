"""WebSocket routes of the live app."""

from django.urls import path

from .room.consumers import LiveRoomConsumer

websocket_urlpatterns = [
    path("ws/live/<int:session_id>/", LiveRoomConsumer.as_asgi(), name="live-room"),
]
