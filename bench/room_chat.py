"""`python -m bench room_chat`: a busy room's chat and events (see bench/room.py)."""

from bench.room import run_chat as run

__all__ = ["run"]
