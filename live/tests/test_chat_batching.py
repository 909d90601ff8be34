"""The chat degradation policy itself (live/chat/batching.py), without sockets: what each viewer
is shown of one tick's chat. The same policy over real servers and sockets is in
test_room_chat_flood.py."""

import json
import random

from live.chat.batching import ChatBatcher, stripes
from live.room.hub import Event


def chat(event_id: int, handle: str) -> Event:
    data = {"id": event_id, "user": {"handle": handle, "name": handle}, "text": f"m{event_id}"}
    text = json.dumps(
        {"type": "chat.message", "id": event_id, "ts": 0, "data": data}, separators=(",", ":")
    )
    return Event(text, event_id)


def batcher(*, per_second: float, burst: float, groups: int = 4) -> ChatBatcher:
    return ChatBatcher(
        make_event=Event,
        tick=0.1,
        shown_per_second=per_second,
        burst=burst,
        groups=groups,
        rng=random.Random(7),
    )


def shown(ev: Event) -> list[int]:
    data = json.loads(ev.text)
    if data["type"] == "chat.message":
        return [data["id"]]
    return [e["id"] for e in data["data"]["events"]]


def test_below_the_budget_every_viewer_gets_every_message_in_one_frame():
    b = batcher(per_second=50, burst=50)
    for n in range(1, 11):
        b.add(chat(n, f"user{n}"))
    flush = b.flush(0.0)
    assert flush.full is not None
    frame = json.loads(flush.full.text)
    assert frame["type"] == "chat.batch"
    assert frame["id"] == 10
    assert frame["data"]["from"] == 1
    assert frame["data"]["omitted"] == 0
    assert shown(flush.full) == list(range(1, 11))


def test_a_single_message_goes_out_as_its_own_frame():
    b = batcher(per_second=50, burst=50)
    ev = chat(1, "ana")
    b.add(ev)
    assert b.flush(0.0).full is ev


def test_above_the_budget_each_group_sees_a_sample_and_together_they_see_everything():
    b = batcher(per_second=10, burst=10, groups=4)
    for n in range(1, 41):
        b.add(chat(n, f"user{n}"))
    flush = b.flush(0.0)
    assert flush.sampled
    seen: set[int] = set()
    for group in range(4):
        ev = flush.frame(flush.key(group, ""))
        ids = shown(ev)
        data = json.loads(ev.text)["data"]
        assert len(ids) == 10
        assert ids == sorted(ids)
        assert data["from"] == 1
        assert json.loads(ev.text)["id"] == 40
        assert data["omitted"] == 30
        seen.update(ids)
    assert seen == set(range(1, 41))


def test_the_sender_always_gets_their_own_messages_and_the_host_is_always_shown():
    b = batcher(per_second=5, burst=5, groups=2)
    for n in range(1, 31):
        b.add(chat(n, "Ana" if n % 10 == 0 else "host" if n == 7 else f"user{n}"))
    flush = b.flush(0.0, host_handle="host")
    for group in range(2):
        ids = shown(flush.frame(flush.key(group, "ana")))
        assert {10, 20, 30} <= set(ids)
        assert 7 in ids
        assert 7 in shown(flush.frame(flush.key(group, "someone")))


def test_the_budget_refills_at_its_rate():
    b = batcher(per_second=10, burst=10, groups=1)
    shown_total = 0
    for tick in range(20):  # 2 s of 100 messages/s, in ticks of 0.1 s
        for n in range(10):
            b.add(chat(tick * 10 + n + 1, f"u{n}"))
        flush = b.flush(tick * 0.1)
        ev = flush.full if flush.full is not None else flush.frame(flush.key(0, ""))
        shown_total += len(shown(ev))
    # 10 saved up, then 10 a second for 1.9 s.
    assert 25 <= shown_total <= 30, shown_total


def test_a_batch_trimmed_for_a_socket_that_has_its_first_messages():
    b = batcher(per_second=50, burst=50)
    for n in range(5, 10):
        b.add(chat(n, "ana"))
    trimmed = b.flush(0.0).full.after(6)
    frame = json.loads(trimmed.text)
    assert frame["id"] == 9
    assert frame["data"]["from"] == 7
    assert shown(trimmed) == [7, 8, 9]
    assert frame["data"]["omitted"] == 0


def test_stripes_cover_each_item_once_when_there_is_room():
    assert stripes(6, 2, 3, 0) == [[0, 1], [2, 3], [4, 5]]
    assert stripes(5, 2, 3, 4) == [[0, 4], [1, 2], [3, 4]]
    assert stripes(5, 0, 2, 0) == [[], []]
