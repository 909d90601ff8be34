"""The one helper services use to tell a live room something (DESIGN.md section 5)."""

from django.db import transaction

from .room.bus import get_bus


def publish(session_id: int, type_: str, data) -> None:
    """Send `type_`/`data` to everyone in the room once the current transaction commits."""
    transaction.on_commit(lambda: get_bus().publish(session_id, type_, data))
