"""Batches: prompts answered through the same pipeline at a lower priority than chat.

Two stages. ``batches`` (consumer group over chat.batch.requests.v1) feeds a batch's
prompts into chat.requests.v1 with at most ``in_flight`` of them unanswered at once, so
a batch of any size adds only a few requests to the interactive queues, and none while
an interactive answer is under way (it follows requests and responses to know), except
one every ``starve_s`` so a busy system still finishes its batches. ``batch-results``
(consumer group over chat.responses.v1) turns answers to batch prompts into
``batch.item.completed`` events on chat.batch.status.v1, which the feeder follows (to
free a slot, and to learn of cancels) and the edge reads for progress and results.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from schemas.events import (
    BatchCancelled,
    BatchItemCompleted,
    BatchSubmitted,
    MessageReceived,
    ResponseCompleted,
    batch_conversation,
    conversation_key,
)
from schemas.stages import BATCH_RESULTS, BATCHES
from schemas.topics import BATCH_STATUS, REQUESTS, RESPONSES
from streams.runtime.base import Broadcast, Emit, StageSpec

__all__ = ("FeederDeps", "feeder_stage", "request_id", "results_stage")

log = logging.getLogger(__name__)

_BATCH_CONVERSATION = re.compile(r"^batch-(?P<batch>.+)-(?P<index>\d+)$")
# Prompts fed but unanswered are given up on after this, so a lost answer cannot stall
# the batch forever (it shows as missing in the results).
_ITEM_TIMEOUT_S = 300.0
# An interactive answer is deferred to for this long at most. One that fails ends on the
# token topic only (which the feeder does not read: every token of every answer), never
# on chat.responses.v1, so a request unanswered this long is taken as ended; else each
# upstream error would slow every batch to one prompt per ``starve_s`` for minutes. An
# answer streaming longer still has batches fed one at a time while chat goes on.
_ANSWER_WAIT_S = 60.0
_QUIET_S = 2.0
# Memory bounds of a feeder's view of the status topic: answered prompts of the batches
# with the most recent news (a batch fed again after a crash skips those), and cancels.
_MAX_DONE = 200_000
_MAX_CANCELLED = 10_000


def request_id(batch_id: str, index: int) -> str:
    """Deterministic, so a batch fed again after a crash does not answer twice."""
    return f"batch:{batch_id}:{index}"


@dataclass
class _Progress:
    # Answered prompt indexes by batch, least recently heard of first (bounded).
    answered: OrderedDict[str, set[int]] = field(default_factory=OrderedDict)
    answered_count: int = 0
    cancelled: OrderedDict[str, None] = field(default_factory=OrderedDict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    # Interactive requests not answered yet, by request id: when each was seen (oldest
    # first, so the ones whose answer never came are dropped from the front).
    interactive: dict[str, float] = field(default_factory=dict)
    last_interactive: float = 0.0

    def done(self, batch_id: str, index: int) -> bool:
        return index in self.answered.get(batch_id, ())

    async def on_request(self, event: MessageReceived) -> None:
        if not event.request_id.startswith("batch:"):
            now = self.last_interactive = time.monotonic()
            self.interactive[event.request_id] = now
            # One stale entry dropped per request: the dict cannot grow faster than it
            # shrinks, so it holds at most the requests of the last _ANSWER_WAIT_S.
            oldest = next(iter(self.interactive))
            if now - self.interactive[oldest] > _ANSWER_WAIT_S:
                del self.interactive[oldest]  # its answer was lost or not for us to see

    async def on_response(self, event: ResponseCompleted) -> None:
        if self.interactive.pop(event.request_id, None) is not None:
            self.changed.set()

    def interactive_busy(self) -> bool:
        now = time.monotonic()
        for rid, seen in list(self.interactive.items()):
            if now - seen > _ANSWER_WAIT_S:
                del self.interactive[rid]  # its answer was lost or not for us to see
        return bool(self.interactive)

    async def on_status(self, event: BatchItemCompleted | BatchCancelled) -> None:
        if isinstance(event, BatchItemCompleted):
            indexes = self.answered.setdefault(event.batch_id, set())
            self.answered.move_to_end(event.batch_id)
            if event.index not in indexes:
                indexes.add(event.index)
                self.answered_count += 1
            while self.answered_count > _MAX_DONE and len(self.answered) > 1:
                self.answered_count -= len(self.answered.popitem(last=False)[1])
        else:
            self.cancelled[event.batch_id] = None
            self.cancelled.move_to_end(event.batch_id)
            if len(self.cancelled) > _MAX_CANCELLED:
                self.cancelled.popitem(last=False)
        self.changed.set()

    async def wait(self, seconds: float) -> None:
        self.changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.changed.wait(), seconds)


@dataclass(frozen=True)
class FeederDeps:
    # Batch prompts unanswered at once on a quiet system (1 while chat is busy).
    in_flight: int = 4
    # A busy system still feeds one prompt this often, so batches finish.
    starve_s: float = 5.0
    # How far back a new feeder reads the batches' status to learn what is done.
    lookback_s: float = 7 * 24 * 3600.0


def feeder_stage(deps: FeederDeps) -> StageSpec:
    in_flight, starve_s, lookback_s = deps.in_flight, deps.starve_s, deps.lookback_s
    progress = _Progress()
    last_fed = [0.0]

    async def handler(batch: BatchSubmitted) -> AsyncIterator[Emit]:
        fed: dict[int, float] = {}  # index -> when fed
        loop = asyncio.get_running_loop()
        for index, prompt in enumerate(batch.prompts):
            if progress.done(batch.batch_id, index):
                continue  # answered before a restart
            while True:
                if batch.batch_id in progress.cancelled:
                    log.info("batch %s cancelled at prompt %d", batch.batch_id, index)
                    return
                now = loop.time()
                pending = [i for i, at in fed.items() if not progress.done(batch.batch_id, i)
                           and now - at < _ITEM_TIMEOUT_S]
                yield_to_chat = progress.interactive_busy() and now - last_fed[0] < starve_s
                # Between two answers of a chatting user, one prompt at a time: only a
                # quiet system gets the whole in_flight.
                quiet = time.monotonic() - progress.last_interactive > _QUIET_S
                limit = in_flight if quiet else 1
                if len(pending) < limit and not yield_to_chat:
                    break
                await progress.wait(0.05 if yield_to_chat else 1.0)
            cid = batch_conversation(batch.batch_id, index)
            fed[index] = last_fed[0] = loop.time()
            yield Emit(REQUESTS, conversation_key(batch.tenant_id, cid), MessageReceived(
                tenant_id=batch.tenant_id, request_id=request_id(batch.batch_id, index),
                message_id=f"{request_id(batch.batch_id, index)}:m", conversation_id=cid,
                user_id=batch.user_id, text=prompt, model=batch.model,
                options={**batch.options, "batch_id": batch.batch_id, "batch_index": index},
                history=()))

    return StageSpec(BATCHES.name, BATCHES.inputs, handler, concurrency=2,
                     broadcasts=(Broadcast(BATCH_STATUS, progress.on_status, lookback_s),
                                 Broadcast(REQUESTS, progress.on_request),
                                 Broadcast(RESPONSES, progress.on_response)))


def results_stage() -> StageSpec:
    async def handler(event: ResponseCompleted) -> AsyncIterator[Emit]:
        found = _BATCH_CONVERSATION.match(event.conversation_id)
        if found is None or not event.request_id.startswith("batch:"):
            return
        batch_id = found["batch"]
        yield Emit(BATCH_STATUS, f"{event.tenant_id}:{batch_id}", BatchItemCompleted(
            tenant_id=event.tenant_id, batch_id=batch_id, index=int(found["index"]),
            request_id=event.request_id, text=event.text, model=event.model,
            usage=event.usage, finish_reason=event.finish_reason))

    return StageSpec(BATCH_RESULTS.name, BATCH_RESULTS.inputs, handler, concurrency=4)
