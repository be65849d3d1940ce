"""The token relay: one tail of the request and token topics per edge process,
dispatching each answer's events to the streams waiting for it.

Every replica reads every request's events in log order from a look-back point, so
any replica can serve (and resume) any stream: the edge holds no state a client
depends on. SSE ids are the position of an event in its request's stream, which
every replica computes the same way because the log's order is the same for all.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from pydantic import TypeAdapter, ValidationError

from schemas.events import (
    AnswerFailed,
    AnswerFinished,
    AnswerStarted,
    CitationsAttached,
    MessageReceived,
    StreamEvent,
    TokensGenerated,
    ToolCallGenerated,
)
from schemas.topics import REQUESTS, TOKENS
from streams.runtime.base import Runtime

__all__ = ("RequestStream", "SseEvent", "TokenRelay")

log = logging.getLogger(__name__)

_stream_events: TypeAdapter[StreamEvent] = TypeAdapter(StreamEvent)


@dataclass(frozen=True, slots=True)
class SseEvent:
    id: int
    event: str
    data: str


@dataclass
class RequestStream:
    request_id: str
    tenant_id: str | None = None
    user_id: str | None = None
    conversation_id: str | None = None
    events: list[SseEvent] = field(default_factory=list)
    attempts: list[str] = field(default_factory=list)
    finished: bool = False
    finished_at: float = 0.0
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def _append(self, name: str, payload: dict[str, object]) -> None:
        self.events.append(SseEvent(len(self.events) + 1, name, json.dumps(payload)))

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def add(self, event: StreamEvent) -> None:
        if self.finished:
            return
        if not self.attempts or self.attempts[-1] != event.attempt:
            if event.attempt in self.attempts:
                return  # a late event of an attempt already superseded
            if self.attempts:
                # A new attempt after a crash: clients drop the partial text they have.
                self._append("restart", {"attempt": len(self.attempts) + 1})
            self.attempts.append(event.attempt)
        if isinstance(event, AnswerStarted):
            self._append("status", {"state": "generating", "model": event.model,
                                    "provider": event.provider})
        elif isinstance(event, CitationsAttached):
            self._append("citations", {"citations": [c.model_dump() for c in event.citations]})
        elif isinstance(event, TokensGenerated):
            self._append("token", {"text": event.text, "seq": event.seq})
        elif isinstance(event, ToolCallGenerated):
            self._append("tool_calls", {"index": event.index, "id": event.call_id,
                                        "name": event.name, "arguments": event.arguments,
                                        "seq": event.seq})
        elif isinstance(event, AnswerFinished):
            self._append("done", {"message_id": event.message_id,
                                  "usage": event.usage.model_dump(),
                                  "finish_reason": event.finish_reason})
            self._finish()
        elif isinstance(event, AnswerFailed):
            self._append("error", {"code": event.code, "message": event.message})
            self._finish()
        self._notify()

    def _finish(self) -> None:
        self.finished = True
        self.finished_at = time.monotonic()

    async def follow(self, after: int, keepalive_s: float) -> AsyncIterator[SseEvent | None]:
        """Events after id ``after`` as they come; ``None`` when nothing came for a while."""
        pos = after
        while True:
            while pos < len(self.events):
                pos += 1
                yield self.events[pos - 1]
            if self.finished:
                return
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), keepalive_s)
            except TimeoutError:
                yield None


class TokenRelay:
    """Keeps recent requests' streams in memory, bounded by count and age."""

    def __init__(self, runtime: Runtime, *, lookback_s: float, keep_s: float = 600.0,
                 max_streams: int = 100_000) -> None:
        self._runtime = runtime
        self._lookback_s = lookback_s
        self._keep_s = keep_s
        self._max = max_streams
        self._streams: OrderedDict[str, RequestStream] = OrderedDict()
        self._tasks: list[asyncio.Task[None]] = []
        self.caught_up = asyncio.Event()

    async def start(self, timeout_s: float = 60.0) -> None:
        """Start tailing; returns once both tails are positioned, so a request the edge
        accepts afterwards cannot slip past the relay."""
        since = int((time.time() - self._lookback_s) * 1000)
        ready = [asyncio.Event(), asyncio.Event()]
        self._tasks = [
            asyncio.create_task(self._consume_requests(since, ready[0].set),
                                name="relay-requests"),
            asyncio.create_task(self._consume_tokens(since, ready[1].set),
                                name="relay-tokens"),
        ]
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not all(e.is_set() for e in ready):
            for t in self._tasks:
                if t.done():
                    t.result()  # a tail that died says why
                    raise RuntimeError(f"{t.get_name()} ended before it was positioned")
            if asyncio.get_running_loop().time() > deadline:
                await self.stop()
                raise TimeoutError(f"the token relay could not reach the log in {timeout_s}s")
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t

    def get(self, request_id: str) -> RequestStream | None:
        return self._streams.get(request_id)

    def _stream(self, request_id: str) -> RequestStream:
        s = self._streams.get(request_id)
        if s is None:
            s = self._streams[request_id] = RequestStream(request_id)
            self._evict()
        return s

    def _evict(self) -> None:
        now = time.monotonic()
        while self._streams:
            oldest = next(iter(self._streams.values()))
            expired = oldest.finished and now - oldest.finished_at > self._keep_s
            if len(self._streams) <= self._max and not expired:
                break
            self._streams.popitem(last=False)

    def register(self, request: MessageReceived) -> RequestStream:
        """Note a request this edge just published, before the log echoes it back."""
        s = self._stream(request.request_id)
        s.tenant_id, s.user_id = request.tenant_id, request.user_id
        s.conversation_id = request.conversation_id
        return s

    async def _consume_requests(self, since: int, positioned: Callable[[], None]) -> None:
        async for record in self._runtime.tail(REQUESTS, since, positioned):
            try:
                request = MessageReceived.model_validate_json(record.value)
            except ValidationError:
                continue  # retrieval dead-letters it; the relay has nothing to serve
            self.register(request)

    async def _consume_tokens(self, since: int, positioned: Callable[[], None]) -> None:
        async for record in self._runtime.tail(TOKENS, since, positioned):
            try:
                event = _stream_events.validate_json(record.value)
            except ValidationError:
                log.warning("relay: skipping malformed token event at %s@%d:%d",
                            record.topic, record.partition, record.offset)
                continue
            s = self._stream(event.request_id)
            if s.tenant_id is None:
                s.tenant_id, s.conversation_id = event.tenant_id, event.conversation_id
            s.add(event)
