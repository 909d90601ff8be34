"""`python -m bench room_flood`: 500 chat messages/s into 3,000 viewers; commerce events must
still arrive on time, chat is batched and sampled (see bench/room.py, live/chat/batching.py)."""

from bench.room import run_flood as run

__all__ = ["run"]
