"""One answer's SSE stream: token events turned into SSE frames, each encoded once.

The frames of an answer are numbered by their position in it, and every reader of the
answer's partition sees its events in the same log order, so every edge (and a rebuild
from the log after the relay let it go) gives each frame the same id.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import BaseModel

__all__ = ("FRAMES", "KEEPALIVE_S", "Frame", "RequestStream", "SseEvent", "sse_frame")

KEEPALIVE_S = 15.0
"""A stream quiet this long gets a comment line, so proxies keep the connection open."""


@dataclass(frozen=True, slots=True)
class Frame:
    """How one token event type becomes an SSE event: its name, the event's fields it
    carries (in this order, after ``fixed``; a pair names the SSE field and the event
    field it comes from), and whether it ends the answer."""

    event: str
    fields: tuple[str | tuple[str, str], ...]
    fixed: Mapping[str, Any] = field(default_factory=dict)
    terminal: bool = False


FRAMES: dict[str, Frame] = {
    "answer.started": Frame("status", ("model", "provider"), {"state": "generating"}),
    "citations.attached": Frame("citations", ("citations",)),
    "tokens.generated": Frame("token", ("text", "seq")),
    "tool_call.generated": Frame("tool_calls", ("index", ("id", "call_id"), "name",
                                                "arguments", "seq")),
    "answer.finished": Frame("done", ("message_id", "usage", "finish_reason"), terminal=True),
    "answer.failed": Frame("error", ("code", "message"), terminal=True),
}
"""Token event type -> SSE frame. A new event type on chat.tokens.v1 is relayed once it
has an entry here; types without one are skipped (an older edge ignores newer events)."""


def sse_frame(id_: int | None, event: str, data: str) -> bytes:
    head = f"id: {id_}\n" if id_ is not None else ""
    return f"{head}event: {event}\ndata: {data}\n\n".encode()


# What a kept frame costs beyond its bytes on the wire (the object and its bytes header),
# so the relay's byte bound is close to the memory it really holds.
FRAME_OVERHEAD = 100


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One SSE frame, kept as sent: only its bytes. The relay keeps every frame of every
    answer for a resume, so the payload and its JSON are read back from the bytes when a
    reader wants them (the OpenAI-compatible routes) rather than held three times (a
    frame took 500 bytes of memory for 56 on the wire; it takes about 190 now)."""

    id: int
    event: str
    wire: bytes  # the whole SSE frame: "id: N\nevent: E\ndata: JSON\n\n"

    @classmethod
    def of(cls, id_: int, event: str, payload: dict[str, Any]) -> SseEvent:
        return cls(id_, event, sse_frame(id_, event, orjson.dumps(payload).decode()))

    @property
    def data(self) -> str:
        """The payload as JSON."""
        return self.wire[self.wire.index(b"\ndata: ") + 7:-2].decode()

    @property
    def payload(self) -> dict[str, Any]:
        found: dict[str, Any] = orjson.loads(self.wire[self.wire.index(b"\ndata: ") + 7:-2])
        return found


@dataclass(eq=False)
class RequestStream:
    request_id: str
    tenant_id: str | None = None
    user_id: str | None = None
    conversation_id: str | None = None
    events: list[SseEvent] = field(default_factory=list)
    attempts: list[str] = field(default_factory=list)
    finished: bool = False
    finished_at: float = 0.0
    created_at: float = field(default_factory=time.monotonic)
    nbytes: int = 0
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _wake_pending: bool = False

    def append(self, name: str, payload: dict[str, Any], *, terminal: bool = False) -> None:
        if self.finished:
            return
        event = SseEvent.of(len(self.events) + 1, name, payload)
        self.events.append(event)
        self.nbytes += len(event.wire) + FRAME_OVERHEAD
        if terminal:
            self.finished = True
            self.finished_at = time.monotonic()
        self._wake()

    def add(self, raw: Mapping[str, Any] | BaseModel) -> None:
        """Relay one token event of this request (decoded JSON, or the event itself)."""
        if self.finished:
            return
        if isinstance(raw, BaseModel):
            raw = raw.model_dump(mode="json")
        attempt = raw.get("attempt")
        if not isinstance(attempt, str):
            return
        frame = FRAMES.get(str(raw.get("type")))
        if not self.attempts or self.attempts[-1] != attempt:
            if attempt in self.attempts:
                return  # a late event of an attempt already superseded
            if self.attempts and not (frame is not None and frame.terminal):
                # A new attempt after a crash: clients drop the partial text they have.
                self.append("restart", {"attempt": len(self.attempts) + 1})
            self.attempts.append(attempt)
        if frame is None:
            return
        payload = dict(frame.fixed)
        for name in frame.fields:
            if isinstance(name, tuple):
                payload[name[0]] = raw.get(name[1])
            else:
                payload[name] = raw.get(name)
        self.append(frame.event, payload, terminal=frame.terminal)

    def fail(self, code: str, message: str) -> None:
        self.append("error", {"code": code, "message": message}, terminal=True)

    def _wake(self) -> None:
        # One wake-up of the readers per loop iteration, however many events came.
        if not self._wake_pending:
            self._wake_pending = True
            try:
                asyncio.get_running_loop().call_soon(self._notify)
            except RuntimeError:  # built outside a loop (a test): nobody is waiting
                self._notify()

    def _notify(self) -> None:
        self._wake_pending = False
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def follow(self, after: int, keepalive_s: float) -> AsyncIterator[SseEvent | None]:
        """Events after id ``after`` as they come; ``None`` when nothing came for
        ``keepalive_s``. A resume at or past the end of a finished answer gets its final
        event again, so every reader ends with ``done`` or ``error``."""
        async for batch in self.follow_batches(after, keepalive_s):
            if batch is None:
                yield None
            else:
                for event in batch:
                    yield event

    async def follow_batches(self, after: int,
                             keepalive_s: float) -> AsyncIterator[list[SseEvent] | None]:
        """As :meth:`follow`, but everything that arrived since the last wake-up comes
        as one list: a reader writes it to its socket once (the relay reads the log in
        fetches, so several frames of one answer often arrive together)."""
        pos = after
        sent = False
        while True:
            if pos < len(self.events):
                batch = self.events[pos:]
                pos = len(self.events)
                sent = True
                yield batch
            if self.finished:
                if pos < len(self.events):
                    continue  # appended while the reader was writing the last batch
                if not sent and self.events:
                    yield [self.events[-1]]
                return
            if pos < len(self.events):
                continue
            changed = self._changed
            try:
                async with asyncio.timeout(keepalive_s):
                    await changed.wait()
            except TimeoutError:
                yield None
