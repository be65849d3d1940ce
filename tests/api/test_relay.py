"""The relay turns a request's token events into events every replica numbers alike."""

from __future__ import annotations

import asyncio

from api.relay.events import Restarted
from api.relay.stream import RequestStream
from schemas.events import AnswerFinished, AnswerStarted, TokensGenerated, Usage

BASE = {"tenant_id": "t", "request_id": "r", "conversation_id": "c"}


def _events(attempt: str, tokens: list[str], done: bool = True) -> list[object]:
    out: list[object] = [AnswerStarted(**BASE, attempt=attempt, seq=0, model="local",
                                       provider="local")]
    out += [TokensGenerated(**BASE, attempt=attempt, seq=i + 1, text=t)
            for i, t in enumerate(tokens)]
    if done:
        out.append(AnswerFinished(**BASE, attempt=attempt, seq=len(tokens) + 1,
                                  message_id="m", usage=Usage(), finish_reason="stop"))
    return out


def test_a_new_attempt_becomes_a_restart_and_stale_events_are_dropped() -> None:
    s = RequestStream("r")
    first = _events("a1", ["Hel", "lo"], done=False)
    second = _events("a2", ["Hello", " world"])
    for e in [*first, second[0], TokensGenerated(**BASE, attempt="a1", seq=3, text="late"),
              *second[1:]]:
        s.add(e)  # type: ignore[arg-type]
    names = [e.kind for e in s.events]
    assert names == ["status", "token", "token", "restart", "status", "token", "token", "done"]
    assert [e.id for e in s.events] == list(range(1, 9))
    assert s.events[3] == Restarted(4, 2)
    assert "late" not in repr(s.events)
    assert s.finished


async def test_follow_resumes_after_an_id_without_gap_or_repeat() -> None:
    s = RequestStream("r")
    for e in _events("a1", ["a", "b", "c"]):
        s.add(e)  # type: ignore[arg-type]
    after_two = [e async for batch in s.follow(2, keepalive_s=1) if batch for e in batch]
    assert [e.id for e in after_two] == [3, 4, 5]


async def test_frames_that_arrive_together_are_written_together() -> None:
    """What the relay adds in one go (one fetch from the log) is one batch for a reader
    (one write to its socket); the ids still run on without gap or repeat."""
    s = RequestStream("r")
    events = _events("a1", ["a", "b", "c", "d"])
    for e in events[:3]:
        s.add(e)  # type: ignore[arg-type]
    batches: list[list[int]] = []

    async def read() -> None:
        async for batch in s.follow(0, keepalive_s=5):
            assert batch is not None
            batches.append([e.id for e in batch])

    reader = asyncio.create_task(read())
    await asyncio.sleep(0.01)
    for e in events[3:]:
        s.add(e)  # type: ignore[arg-type]
    await asyncio.wait_for(reader, 5)
    assert batches == [[1, 2, 3], [4, 5, 6]]


async def test_readers_of_one_stream_each_get_keepalives_and_every_event() -> None:
    """Two readers wait on one stream: a quiet stream gives each a keep-alive (None) and
    goes on; a reader that leaves mid-wait takes nothing from the other."""
    s = RequestStream("r")
    events = _events("a1", ["a", "b"])
    s.add(events[0])  # type: ignore[arg-type]
    seen: dict[str, list[int | None]] = {"one": [], "two": [], "gone": []}

    async def read(name: str) -> None:
        async for batch in s.follow(0, keepalive_s=0.02):
            seen[name] += [None] if batch is None else [e.id for e in batch]

    readers = {name: asyncio.create_task(read(name)) for name in seen}
    await asyncio.sleep(0.1)  # quiet: keep-alives
    readers["gone"].cancel()
    for e in events[1:]:
        s.add(e)  # type: ignore[arg-type]
    await asyncio.wait_for(asyncio.gather(readers["one"], readers["two"]), 5)
    for name in ("one", "two"):
        ids = [i for i in seen[name] if i is not None]
        assert ids == [1, 2, 3, 4]
        assert seen[name].count(None) >= 2  # a keep-alive each quiet 20 ms, not just one
        assert seen[name][0] == 1 and seen[name][-1] == 4
    assert not s._waiters  # nobody left waiting
