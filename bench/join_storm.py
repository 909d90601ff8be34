"""`python -m bench join_storm`: 3,000 new viewers join a live room at once (see bench/room.py)."""

from bench.room import run_join_storm as run

__all__ = ["run"]
