"""One answer's events as they come, kept for its readers and their resumes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from api.relay.events import RELAYED, TERMINAL, Failed, Finished, Relayed, Restarted, size_of

__all__ = ("KEEPALIVE_S", "RequestStream")

KEEPALIVE_S = 15.0
"""A stream quiet this long gets a keep-alive, so proxies keep the connection open."""


@dataclass(eq=False)
class RequestStream:
    """The events of request ``request_id``'s answer. Their ids run on from ``base`` + 1
    (0 but for an answer rebuilt from the store for a client that had part of it)."""

    request_id: str
    tenant_id: str | None = None
    user_id: str | None = None
    conversation_id: str | None = None
    events: list[Relayed] = field(default_factory=list)
    attempts: list[str] = field(default_factory=list)
    finished: bool = False
    finished_at: float = 0.0
    created_at: float = field(default_factory=time.monotonic)
    nbytes: int = 0
    base: int = 0
    # The readers waiting for the next events: one future each, resolved at the wake-up.
    _waiters: list[asyncio.Future[bool]] = field(default_factory=list)
    _wake_pending: bool = False

    @property
    def next_id(self) -> int:
        return self.base + len(self.events) + 1

    def append(self, event: Relayed) -> None:
        if self.finished:
            return
        self.events.append(event)
        self.nbytes += size_of(event)
        if isinstance(event, Finished | Failed):
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
        kind = str(raw.get("type"))
        if not self.attempts or self.attempts[-1] != attempt:
            if attempt in self.attempts:
                return  # a late event of an attempt already superseded
            if self.attempts and kind not in TERMINAL:
                # A new attempt after a crash: clients drop the partial text they have.
                self.append(Restarted(self.next_id, len(self.attempts) + 1))
            self.attempts.append(attempt)
        decode = RELAYED.get(kind)
        if decode is not None:
            self.append(decode(raw, self.next_id))

    def fail(self, code: str, message: str) -> None:
        self.append(Failed(self.next_id, code, message))

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
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():  # a reader gone or past its keep-alive is done already
                waiter.set_result(True)

    async def _changed(self, keepalive_s: float) -> bool:
        """Wait for the next wake-up: True when it came, False after ``keepalive_s``
        without one. A future and a timer a wait, not ``asyncio.timeout`` (its context
        and cancellation cost several times more, once per frame a stream relays)."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiters.append(waiter)
        quiet = loop.call_later(keepalive_s, _expire, waiter)
        try:
            return await waiter
        finally:
            quiet.cancel()

    async def follow(self, after: int, keepalive_s: float) -> AsyncIterator[list[Relayed] | None]:
        """The events after id ``after`` as they come, everything that arrived since the
        last wake-up as one list (a reader writes it to its socket once: the relay reads
        the log in fetches, so several events of one answer often arrive together);
        ``None`` when nothing came for ``keepalive_s``. A resume at or past the end of a
        finished answer gets its final event again, so every reader ends with its end."""
        pos = max(0, after - self.base)
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
            if not await self._changed(keepalive_s):
                yield None


def _expire(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)

