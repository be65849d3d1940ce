"""The partition-aware relay on the embedded log: an edge reads its reply partition only,
skips other answers unparsed, finds an answer it did not start on demand with the same
event ids, and stays within its bounds."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest

from api.relay.events import Failed, Token
from api.relay.native import NativeSse
from api.relay.stream import RequestStream
from api.relay.tokens import RelayLimits, TokenRelay
from kernel.settings import Settings
from schemas.events import (
    AnswerFailed,
    AnswerFinished,
    AnswerStarted,
    MessageReceived,
    TokensGenerated,
    Usage,
    conversation_key,
    new_id,
)
from schemas.topics import REQUEST_HEADER, REQUESTS, TOKENS
from streams.runtime.embedded.runtime import EmbeddedRuntime
from tests.support.wait import until

KEY = conversation_key("t", "c")


def _request(partition: int | None, user: str = "u") -> MessageReceived:
    return MessageReceived(tenant_id="t", request_id=new_id(), message_id=new_id(),
                           conversation_id="c", user_id=user, text="hi", model="local",
                           reply_partition=partition)


def _answer(rid: str, tokens: list[str], attempt: str = "a1", done: bool = True) -> list[Any]:
    base = {"tenant_id": "t", "request_id": rid, "conversation_id": "c", "attempt": attempt}
    out: list[Any] = [AnswerStarted(**base, seq=0, model="local", provider="local")]
    out += [TokensGenerated(**base, seq=i + 1, text=t) for i, t in enumerate(tokens)]
    if done:
        out.append(AnswerFinished(**base, seq=len(tokens) + 1, message_id="m",
                                  usage=Usage(), finish_reason="stop"))
    return out


async def _produce(rt: EmbeddedRuntime, request: MessageReceived, events: list[Any]) -> None:
    for e in events:
        await rt.publisher.publish(TOKENS, KEY, e, partition=request.reply_partition)




async def _read(stream: RequestStream, after: int = 0) -> list[Any]:
    return [e async for batch in stream.follow(after, keepalive_s=5) if batch is not None
            for e in batch]


@contextlib.asynccontextmanager
async def _edge(rt: EmbeddedRuntime, partition: int, **limits: Any) -> Any:
    relay = TokenRelay(rt, edge_id=f"edge-{partition}", partition=partition,
                       limits=replace(RelayLimits.of(Settings.defaults()), **limits))
    await relay.start()
    try:
        yield relay
    finally:
        await relay.stop()


async def _accept(rt: EmbeddedRuntime, relay: TokenRelay,
                  user: str = "u") -> tuple[MessageReceived, RequestStream]:
    request = _request(relay.home, user)
    with relay.accepting(request) as stream:
        await rt.publisher.publish(REQUESTS, KEY, request)
    return request, stream


async def test_an_edge_relays_its_answers_and_skips_others_unparsed() -> None:
    rt = EmbeddedRuntime(partitions=4)
    await rt.start()
    async with _edge(rt, 1) as relay:
        request, stream = await _accept(rt, relay)
        # Another edge's answer on the same partition, with a value that is not even
        # JSON: skipped by its header, never parsed.
        await rt.log.append(TOKENS.name, KEY.encode(), b"\xff not json",
                            ((REQUEST_HEADER, b"someone-else"),), relay.home)
        await _produce(rt, request, _answer(request.request_id, ["Hel", "lo"]))
        events = await asyncio.wait_for(_read(stream), 5)
        assert [e.kind for e in events] == ["status", "token", "token", "done"]
        assert [e.id for e in events] == [1, 2, 3, 4]
        assert events[1] == Token(2, "Hel", 1)
        assert NativeSse().render(events[1:2]) == \
            b'id: 2\nevent: token\ndata: {"text":"Hel","seq":1}\n\n'
        assert relay.get("someone-else") is None


async def test_a_failed_publish_leaves_no_stream_and_a_pending_one_is_not_served() -> None:
    rt = EmbeddedRuntime(partitions=2)
    await rt.start()
    async with _edge(rt, 0) as relay:
        request = _request(relay.home)
        seen: list[RequestStream | None] = []

        async def refused() -> None:
            with relay.accepting(request):
                seen.append(relay.get(request.request_id))  # not served before the ack
                raise RuntimeError("the log refused it")

        with pytest.raises(RuntimeError):
            await refused()
        assert seen == [None]
        assert relay.get(request.request_id) is None
        assert await relay.find(request.request_id) is None


async def test_another_edge_finds_the_answer_on_demand_with_the_same_ids() -> None:
    rt = EmbeddedRuntime(partitions=4)
    await rt.start()
    async with _edge(rt, 0) as a, _edge(rt, 3) as b:
        request, stream = await _accept(rt, a)
        answer = _answer(request.request_id, ["a", "b", "c", "d"])
        await _produce(rt, request, answer[:3])
        await until(lambda: len(stream.events) == 3)
        found = await b.find(request.request_id)
        assert found is not None and found is not stream
        assert (found.tenant_id, found.user_id) == ("t", "u")
        await _produce(rt, request, answer[3:])
        whole = await asyncio.wait_for(_read(stream), 5)
        resumed = await asyncio.wait_for(_read(found, after=2), 5)
        assert resumed == whole[2:]
        assert resumed[-1].kind == "done"


async def test_an_edge_sharing_the_partition_finds_the_answer_without_doubling_it() -> None:
    rt = EmbeddedRuntime(partitions=2)
    await rt.start()
    async with _edge(rt, 1) as a, _edge(rt, 1) as b:
        request, stream = await _accept(rt, a)
        answer = _answer(request.request_id, ["a", "b", "c"])
        await _produce(rt, request, answer[:2])
        await until(lambda: len(stream.events) == 2)
        found = await b.find(request.request_id)
        assert found is not None
        for event in answer[2:]:  # one at a time: both of b's readers get to run
            await _produce(rt, request, [event])
            await asyncio.sleep(0.05)
        whole = await asyncio.wait_for(_read(stream), 5)
        seen = await asyncio.wait_for(_read(found), 5)
        assert seen == whole


async def test_an_evicted_answer_is_read_again_from_the_log_with_the_same_ids() -> None:
    rt = EmbeddedRuntime(partitions=2)
    await rt.start()
    async with _edge(rt, 1, keep_s=0.0) as relay:
        request, stream = await _accept(rt, relay)
        await _produce(rt, request, _answer(request.request_id, ["x", "y"]))
        first = await asyncio.wait_for(_read(stream), 5)
        relay.evict()
        assert relay.get(request.request_id) is None
        again = await relay.find(request.request_id)
        assert again is not None
        assert await _read(again) == first


async def test_a_resume_at_or_after_the_final_event_gets_done() -> None:
    rt = EmbeddedRuntime(partitions=2)
    await rt.start()
    async with _edge(rt, 0) as relay:
        request, stream = await _accept(rt, relay)
        await _produce(rt, request, _answer(request.request_id, ["x"]))
        events = await asyncio.wait_for(_read(stream), 5)
        last = events[-1].id
        for after in (last, last + 5):
            assert [(e.id, e.kind) for e in await _read(stream, after)] == [(last, "done")]


async def test_unfinished_answers_are_evicted_by_age_with_an_error() -> None:
    rt = EmbeddedRuntime(partitions=2)
    await rt.start()
    async with _edge(rt, 0, max_age_s=0.05) as relay:
        request, stream = await _accept(rt, relay)
        await _produce(rt, request, _answer(request.request_id, ["x"], done=False))
        reader = asyncio.create_task(_read(stream))
        await asyncio.sleep(0.1)
        relay.evict()
        events = await asyncio.wait_for(reader, 5)
        assert isinstance(events[-1], Failed)
        assert events[-1].code == "relay_timeout"
        assert relay.get(request.request_id) is None


async def test_finished_answers_are_bounded_by_count_and_bytes() -> None:
    rt = EmbeddedRuntime(partitions=2)
    await rt.start()
    async with _edge(rt, 0, max_streams=3, max_bytes=10_000_000) as relay:
        ids = []
        for _ in range(5):
            request, stream = await _accept(rt, relay)
            await _produce(rt, request, _answer(request.request_id, ["x"]))
            await until(lambda s=stream: s.finished)
            ids.append(request.request_id)
        assert [relay.get(r) is not None for r in ids] == [False, False, True, True, True]
    async with _edge(rt, 1, max_bytes=1) as relay:
        request, stream = await _accept(rt, relay)
        await _produce(rt, request, _answer(request.request_id, ["x"]))
        await until(lambda: stream.finished)
        assert relay.get(request.request_id) is None  # over the byte bound: let go


async def test_another_users_answer_is_found_but_belongs_to_them() -> None:
    rt = EmbeddedRuntime(partitions=2)
    await rt.start()
    async with _edge(rt, 0) as a, _edge(rt, 1) as b:
        request, _ = await _accept(rt, a, user="alice")
        found = await b.find(request.request_id)
        assert found is not None and found.user_id == "alice"  # the route says 404


async def test_ids_not_minted_lately_are_not_looked_up() -> None:
    rt = EmbeddedRuntime(partitions=2)
    await rt.start()
    async with _edge(rt, 0) as relay:
        assert await relay.find("not-a-uuid") is None
        assert await relay.find("00000000-0000-4000-8000-000000000000") is None


def _id_at(ms: int) -> str:
    """An id minted at ``ms`` (Unix milliseconds), as a client could forge one."""
    return str(uuid.UUID(int=(ms << 80) | (0x7 << 76) | (0b10 << 62) | 12345))


async def test_an_unknown_id_costs_little_of_the_log_then_nothing() -> None:
    """#26 (found by reading): an id no request has cost a search of the whole look-back
    of chat.requests.v1, every time it was asked for. Now the search stops where the
    request would have been published by, and an id searched for in vain is remembered."""
    rt = EmbeddedRuntime(partitions=1)  # one partition: the count is the search's alone
    await rt.start()
    for i in range(200):
        await rt.publisher.publish(REQUESTS, f"t:c{i}", _request(None))
    read = 0
    scan = rt.scan

    async def counted(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        nonlocal read
        async for record in scan(*args, **kwargs):
            read += 1
            yield record

    rt.scan = counted  # type: ignore[method-assign]
    async with _edge(rt, 0) as relay:
        forged = _id_at(int(time.time() * 1000) - 300_000)  # five minutes ago
        assert await relay.find(forged) is None
        assert read == 1  # the first record read is past the window: the search ends
        read = 0
        for _ in range(5):
            assert await relay.find(forged) is None
        assert read == 0  # remembered: no search at all


def test_a_dead_lettered_request_ends_with_an_error_and_no_restart() -> None:
    s = RequestStream("r")
    for e in _answer("r", ["x"], done=False):
        s.add(e)
    s.add(AnswerFailed(tenant_id="t", request_id="r", conversation_id="c",
                       attempt="dead-letter", seq=0, code="unprocessable", message="m"))
    assert [e.kind for e in s.events] == ["status", "token", "error"]
    assert s.finished


def test_unknown_event_types_are_skipped() -> None:
    s = RequestStream("r")
    s.add({"type": "something.new", "request_id": "r", "attempt": "a1", "seq": 1})
    s.add({"type": "tokens.generated", "request_id": "r", "attempt": "a1", "seq": 2,
           "text": "t"})
    assert [e.kind for e in s.events] == ["token"]
