"""The analytics stage: its own consumer group over requests, responses and scores.

State is kept per tenant and partition of the chat topics (they are co-partitioned by
conversation key), in a Faust table on Kafka, so it lives in the table's changelog topic
and moves with the partition on a rebalance, or in the embedded log's state store. The
updated state is published as a snapshot on the compacted ``analytics.summary.v1`` topic;
readers sum a tenant's partitions.

A state and its snapshot are whole (every window of the last hours), so writing them is
the costly part: events of one key are counted in batches. The first event of a key opens
a batch and waits ``flush_s``; the events of that key that arrive meanwhile are counted
into the same copy and wait for it; then the state is written and the snapshot published
once for all of them. Each event completes (its offset becomes committable) only after
the write that counted it, so a crash loses no count it acknowledged.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from agents.analytics.core import copy, count, windows
from schemas.events import AnalyticsSnapshot, MessageReceived, ResponseCompleted, ScoresComputed
from schemas.stages import ANALYTICS_STAGE, analytics_name
from schemas.topics import ANALYTICS
from streams.runtime.base import CURRENT_RECORD, Emit, StageSpec, StageState

__all__ = ("AnalyticsDeps", "stage")

# Events in flight at most: batches of many keys wait together.
_IN_FLIGHT = 256


@dataclass(frozen=True)
class AnalyticsDeps:
    # Names this analytics group (its own stage and consumer group): several can run.
    group: str = ""
    # A turn whose lead score reaches this counts as a lead.
    lead_threshold: float = 0.7
    # How long the first event of a key waits for others to count with it: at most one
    # state write and one snapshot per key in this time, whatever the rate.
    flush_s: float = 0.5


@dataclass
class _Batch:
    state: dict[str, Any]
    written: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future())


def stage(deps: AnalyticsDeps) -> StageSpec:
    name, lead_threshold = analytics_name(deps.group), deps.lead_threshold
    state = StageState("aggregates")
    batches: dict[str, _Batch] = {}

    async def handler(
        event: MessageReceived | ResponseCompleted | ScoresComputed,
    ) -> AsyncIterator[Emit]:
        record = CURRENT_RECORD.get()
        partition = record.partition if record is not None else 0
        key = f"{event.tenant_id}:{partition}"
        joined = batches.get(key)
        if joined is not None:
            count(joined.state, event, lead_threshold)
            await joined.written  # done once the batch that counted it is written
            return
        batch = batches[key] = _Batch(copy(state.store.get(key) or {}))
        count(batch.state, event, lead_threshold)
        try:
            await asyncio.sleep(deps.flush_s)
        except BaseException:
            del batches[key]
            batch.written.cancel()  # stopping: nothing written, every event is redelivered
            raise
        del batches[key]
        try:
            state.store[key] = batch.state
        except Exception as exc:
            # Not written: each event of the batch fails and is retried on its own (an
            # outage of the store is waited out), none is acknowledged uncounted.
            batch.written.set_exception(exc)
            batch.written.exception()  # retrieved here: the batch may have no follower
            raise
        batch.written.set_result(None)
        # The snapshot follows from the state written; this event completes once it is
        # acknowledged, as every emit is.
        yield Emit(ANALYTICS, f"{name}:{key}", AnalyticsSnapshot(
            tenant_id=event.tenant_id, group=name, partition=partition,
            lead_threshold=lead_threshold, minutes=windows(batch.state, "minutes"),
            hours=windows(batch.state, "hours")))

    return StageSpec(name, ANALYTICS_STAGE.inputs, handler, concurrency=_IN_FLIGHT,
                     state=state)
