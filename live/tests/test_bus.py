import json

import pytest

from live.room.bus import MemoryBus, RedisBus


@pytest.fixture(params=["memory", "redis"])
def bus(request):
    if request.param == "memory":
        return MemoryBus(window=5)
    url = request.getfixturevalue("redis_url")
    bus = RedisBus(url, window=5)
    for key in bus.client.scan_iter("{live:*"):
        bus.client.delete(key)
    return bus


def test_ids_are_monotonic_per_session_and_the_envelope_is_complete(bus):
    ids = [bus.publish(7, "chat", {"text": f"hi {i}"}) for i in range(3)]
    other = bus.publish(8, "chat", {"text": "elsewhere"})
    assert ids == [1, 2, 3]
    assert other == 1
    frames = bus.replay(7, 0)
    envelopes = [json.loads(f) for f in frames]
    assert [e["id"] for e in envelopes] == [1, 2, 3]
    assert envelopes[0]["type"] == "chat"
    assert envelopes[0]["data"] == {"text": "hi 0"}
    assert isinstance(envelopes[0]["ts"], int)


def test_replay_returns_exactly_what_was_missed(bus):
    for i in range(4):
        bus.publish(1, "chat", {"n": i})
    assert [json.loads(f)["data"]["n"] for f in bus.replay(1, 2)] == [2, 3]
    assert bus.replay(1, 4) == []


def test_replay_past_the_window_asks_for_a_resync(bus):
    for i in range(20):
        bus.publish(2, "chat", {"n": i})
    assert bus.replay(2, 1) is None
    assert [json.loads(f)["id"] for f in bus.replay(2, 18)] == [19, 20]


def test_unicode_and_quotes_survive_encoding(bus):
    bus.publish(3, "chat", {"text": 'say "hé" 🎉'})
    assert json.loads(bus.replay(3, 0)[0])["data"]["text"] == 'say "hé" 🎉'


def test_bad_event_types_are_refused(bus):
    with pytest.raises(ValueError, match="bad event type"):
        bus.publish(4, 'x","id":0,"evil', {})
