"""WebSocket routes; the live app adds `/ws/live/<session_id>/` in its issue."""

websocket_urlpatterns: list = []
