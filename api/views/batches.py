"""The edge's view of batches: what was submitted (chat.batch.requests.v1) and what has
been answered or cancelled (chat.batch.status.v1), read from the topics so every edge
replica shows the same progress."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from api.views.topicview import TopicView
from kernel.errors import PoisonEvent
from schemas.events import BatchCancelled, BatchItemCompleted, BatchSubmitted
from schemas.topics import BATCH_REQUESTS, BATCH_STATUS, TopicSpec
from streams.codec import decode
from streams.runtime.base import Record, Runtime

__all__ = ("BatchState", "BatchView")

log = logging.getLogger(__name__)


@dataclass
class BatchState:
    submitted: BatchSubmitted
    results: dict[int, BatchItemCompleted] = field(default_factory=dict)
    cancelled: bool = False

    @property
    def status(self) -> Literal["queued", "running", "completed", "cancelled"]:
        if len(self.results) >= len(self.submitted.prompts):
            return "completed"
        if self.cancelled:
            return "cancelled"
        return "running" if self.results else "queued"


# Batches kept in memory, and answers kept for batches not read yet (see _evict).
MAX_BATCHES = 10_000
MAX_EARLY = 10_000


class BatchView:
    def __init__(self, runtime: Runtime, lookback_s: float = 7 * 24 * 3600.0) -> None:
        self._runtime = runtime
        self._lookback_s = lookback_s
        self._batches: dict[tuple[str, str], BatchState] = {}
        # Answers or cancels read before their batch (the topics are read independently).
        self._early: dict[tuple[str, str], list[BatchItemCompleted | BatchCancelled]] = {}
        self._views: list[TopicView] = []

    async def start(self) -> None:
        since = int((time.time() - self._lookback_s) * 1000)
        # A batch submitted here is applied at once (routes/batches.py); its progress
        # and other replicas' batches may arrive a little later.
        self._views = [TopicView(self._runtime, t, self._reader(t), since_ms=since,
                                 name=f"batches-{t.name}", interactive=False)
                       for t in (BATCH_REQUESTS, BATCH_STATUS)]
        for view in self._views:
            await view.start()

    async def stop(self) -> None:
        for view in self._views:
            await view.stop()
        self._views = []

    def _reader(self, topic: TopicSpec) -> Callable[[Record], None]:
        def read(record: Record) -> None:
            try:
                self.apply(decode(topic, record.value))
            except PoisonEvent:
                log.warning("batches: undecodable event on %s", record.topic)
        return read

    def apply(self, event: object) -> None:
        if isinstance(event, BatchSubmitted):
            key = (event.tenant_id, event.batch_id)
            if key not in self._batches:
                self._batches[key] = BatchState(event)
                for early in self._early.pop(key, []):
                    self.apply(early)
                self._evict()
        elif isinstance(event, BatchItemCompleted | BatchCancelled):
            key = (event.tenant_id, event.batch_id)
            state = self._batches.get(key)
            if state is None:
                self._early.setdefault(key, []).append(event)
                while len(self._early) > MAX_EARLY:  # news of batches never read
                    del self._early[next(iter(self._early))]
            elif isinstance(event, BatchCancelled):
                state.cancelled = True
            else:
                state.results[event.index] = event

    def _evict(self) -> None:
        """Batches older than the look-back go (a restarted edge would not read them
        either), then the oldest over MAX_BATCHES, finished ones first. Insertion order
        is log order, so the oldest are at the front."""
        horizon = time.time() - self._lookback_s
        while self._batches:
            key = next(iter(self._batches))
            if self._batches[key].submitted.occurred_at.timestamp() >= horizon:
                break
            del self._batches[key]
        if len(self._batches) > MAX_BATCHES:
            finished = [k for k, b in self._batches.items()
                        if b.status in ("completed", "cancelled")]
            for key in finished[:len(self._batches) - MAX_BATCHES]:
                del self._batches[key]
        while len(self._batches) > MAX_BATCHES:
            del self._batches[next(iter(self._batches))]

    @property
    def lookback_s(self) -> float:
        return self._lookback_s

    def discard(self, tenant_id: str, batch_id: str) -> None:
        """A batch applied here that was then never published."""
        self._batches.pop((tenant_id, batch_id), None)

    def get(self, tenant_id: str, batch_id: str) -> BatchState | None:
        return self._batches.get((tenant_id, batch_id))

    def active(self, tenant_id: str) -> int:
        """The tenant's batches not finished yet (queued or running)."""
        return sum(1 for (t, _), b in self._batches.items()
                   if t == tenant_id and b.status in ("queued", "running"))

    def items(self, state: BatchState) -> Iterator[tuple[int, str, BatchItemCompleted]]:
        for index, prompt in enumerate(state.submitted.prompts):
            done = state.results.get(index)
            if done is not None:
                yield index, prompt, done
