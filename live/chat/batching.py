"""Chat at rates no screen can show (DESIGN.md section 5): batched per tick, sampled per viewer
above the room's budget. Nothing but chat is ever held or sampled. The room hub
(live/room/hub.py) keeps one ChatBatcher per room and calls it; this module holds the policy.

- Batching. A room's `chat.message` events are gathered and written as one `chat.batch` frame,
  at most one chat frame per LIVE_CHAT_TICK_SECONDS per socket. The tick has a leading edge: a
  message arriving after a quiet tick goes out at once, so a calm room adds no delay.
- Nothing else waits. Any other event (pin, deal, purchase, gift, moderation, viewer count,
  notice, deleted message) is written the moment it arrives; chat still waiting for its tick is
  written just before it, in the same write. Every socket so receives ids in increasing order,
  and resume-by-id stays exact.
- The budget. A viewer is shown at most LIVE_CHAT_SHOWN_PER_SECOND messages a second (a token
  bucket per room holding LIVE_CHAT_SHOWN_BURST, so a one-off burst passes whole). Below it,
  every viewer gets every message, one frame for all. Above it, the room's sockets are split
  into LIVE_CHAT_SAMPLE_GROUPS groups; each group is shown a different sample of the same size,
  striped so that together the groups show every message whenever groups x sample >= messages
  (every chatter is seen by someone). The host's messages are in every sample. Each sender's
  sockets get their group's sample plus all of their own messages. One frame is built per group
  (and per sender), not per socket.
- The frame: `{"type":"chat.batch","id":<last id covered>,"ts":..,"data":{"from":<first id
  covered>,"omitted":<messages of the range left out of this frame>,"events":[<the chat.message
  envelopes, unchanged>]}}`. Every id from `from` to `id` is a chat message: an id a batch skips
  was sampled away on purpose, never lost (a socket that cannot keep up is closed with 1013 and
  resumes by id). A batch of a single message that every viewer gets is the bare `chat.message`
  frame itself.
- Resume by id replays every event after the client's last id from the replay window, chat
  included and unsampled: exactly what it missed.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

CHAT_PREFIX = '{"type":"chat.message"'


class ChatEvent(Protocol):
    """What the hub hands in: an event's id and its exact envelope text."""

    id: int | None
    text: str


def is_chat(text: str) -> bool:
    return text.startswith(CHAT_PREFIX)


def batch_text(first: int, last: int, texts: Sequence[str], omitted: int) -> str:
    """A chat.batch envelope around chat.message envelopes, without re-encoding them."""
    return (
        f'{{"type":"chat.batch","id":{last},"ts":{int(time.time() * 1000)},"data":{{'
        f'"from":{first},"omitted":{omitted},"events":[{",".join(texts)}]}}}}'
    )


def sender_handle(text: str) -> str:
    """The sender's handle (lower case) of a chat.message envelope."""
    try:
        return str(json.loads(text)["data"]["user"]["handle"]).lower()
    except (ValueError, KeyError, TypeError):
        return ""


def stripes(count: int, per_group: int, groups: int, offset: int) -> list[list[int]]:
    """Which of `count` items each group shows: `per_group` consecutive items (modulo count)
    from offset + g * per_group, so the groups together cover every item when
    groups * per_group >= count, each item about equally often otherwise."""
    if count == 0 or per_group <= 0:
        return [[] for _ in range(groups)]
    per_group = min(per_group, count)
    return [
        sorted({(offset + g * per_group + t) % count for t in range(per_group)})
        for g in range(groups)
    ]


class Budget:
    """Messages a viewer may still be shown: `rate` a second, at most `burst` saved up."""

    __slots__ = ("rate", "burst", "tokens", "at")

    def __init__(self, rate: float, burst: float):
        self.rate = rate
        self.burst = max(1.0, burst)
        self.tokens = self.burst
        self.at: float | None = None

    def available(self, now: float) -> int:
        if self.at is not None:
            self.tokens = min(self.burst, self.tokens + max(0.0, now - self.at) * self.rate)
        self.at = now
        return int(self.tokens)

    def spend(self, n: int) -> None:
        self.tokens = max(0.0, self.tokens - n)


class ChatFlush:
    """One tick's chat for the room's sockets: one shared frame, or one per sample group and
    per sender."""

    __slots__ = ("events", "full", "picks", "senders", "make_event", "_frames")

    def __init__(
        self,
        events: list,
        *,
        make_event: Callable[..., Any],
        full: Any = None,
        picks: list[list[int]] | None = None,
        senders: dict[str, list[int]] | None = None,
    ):
        self.events = events
        self.full = full  # the frame for everyone when nothing is sampled away
        self.picks = picks or []
        self.senders = senders or {}
        self.make_event = make_event
        self._frames: dict[object, Any] = {}

    @property
    def sampled(self) -> bool:
        return self.full is None

    def key(self, group: int, handle: str) -> object:
        """Which frame a socket of sample group `group`, signed in as `handle`, gets."""
        group %= len(self.picks)
        if handle and handle in self.senders:
            return (group, handle)
        return group

    def frame(self, key: object) -> Any:
        ev = self._frames.get(key)
        if ev is None:
            if isinstance(key, tuple):
                group, handle = key
                shown = sorted(set(self.picks[group]).union(self.senders[handle]))
            else:
                shown = self.picks[key]  # type: ignore[index]
            events = self.events
            first, last = events[0].id, events[-1].id
            parts = tuple(events[i] for i in shown)
            text = batch_text(first, last, [p.text for p in parts], len(events) - len(shown))
            ev = self._frames[key] = self.make_event(text, last, first, parts)
        return ev


class ChatBatcher:
    """A room's chat waiting for its tick, and the room's budget."""

    __slots__ = ("pending", "budget", "tick", "groups", "next_at", "timer", "make_event", "rng")

    def __init__(
        self,
        *,
        make_event: Callable[..., Any],
        tick: float,
        shown_per_second: float,
        burst: float,
        groups: int,
        rng: random.Random | None = None,
    ):
        self.pending: list = []
        self.budget = Budget(shown_per_second, burst)
        self.tick = tick
        self.groups = max(1, groups)
        self.next_at = 0.0  # no chat frame before this (loop time), unless something else goes
        self.timer: asyncio.TimerHandle | None = None  # the hub's call for the next tick
        self.make_event = make_event
        self.rng = rng or random.Random()

    def add(self, ev: ChatEvent) -> None:
        self.pending.append(ev)

    def due(self, now: float) -> bool:
        return now >= self.next_at

    def drop(self) -> None:
        self.pending = []
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def flush(self, now: float, *, host_handle: str = "") -> ChatFlush:
        """What the pending messages become for the room's sockets (pending must not be empty)."""
        events, self.pending = self.pending, []
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.next_at = now + self.tick
        n = len(events)
        granted = self.budget.available(now)
        if granted >= n:
            self.budget.spend(n)
            return ChatFlush(events, make_event=self.make_event, full=self._whole(events))
        handles = [sender_handle(ev.text) for ev in events]
        host = (host_handle or "").lower()
        priority = [i for i, h in enumerate(handles) if host and h == host]
        rest = [i for i, h in enumerate(handles) if not (host and h == host)]
        per_group = max(0, granted - len(priority))
        self.budget.spend(granted)
        if per_group >= len(rest):
            return ChatFlush(events, make_event=self.make_event, full=self._whole(events))
        offset = self.rng.randrange(len(rest)) if rest else 0
        picks = [
            sorted(priority + [rest[j] for j in stripe])
            for stripe in stripes(len(rest), per_group, self.groups, offset)
        ]
        senders: dict[str, list[int]] = {}
        for i, handle in enumerate(handles):
            if handle:
                senders.setdefault(handle, []).append(i)
        return ChatFlush(events, make_event=self.make_event, picks=picks, senders=senders)

    def _whole(self, events: list) -> Any:
        if len(events) == 1:
            return events[0]  # the bus's own chat.message frame, bytes already shared
        first, last = events[0].id, events[-1].id
        text = batch_text(first, last, [ev.text for ev in events], 0)
        return self.make_event(text, last, first, tuple(events))
