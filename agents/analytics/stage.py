"""The analytics stage: its own consumer group over requests, responses and scores.

State is kept per tenant and partition of the chat topics (they are co-partitioned by
conversation key), in a Faust table on Kafka, so it lives in the table's changelog topic
and moves with the partition on a rebalance, or in a dict on the embedded runtime. After
each event the updated state is published as a snapshot on the compacted
``analytics.summary.v1`` topic; readers sum a tenant's partitions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from agents.analytics.core import apply, windows
from schemas.events import AnalyticsSnapshot, MessageReceived, ResponseCompleted, ScoresComputed
from schemas.stages import ANALYTICS_STAGE, analytics_name
from schemas.topics import ANALYTICS
from streams.runtime.base import CURRENT_RECORD, Emit, StageSpec, StageState

__all__ = ("AnalyticsDeps", "stage")


@dataclass(frozen=True)
class AnalyticsDeps:
    # Names this analytics group (its own stage and consumer group): several can run.
    group: str = ""
    # A turn whose lead score reaches this counts as a lead.
    lead_threshold: float = 0.7


def stage(deps: AnalyticsDeps) -> StageSpec:
    name, lead_threshold = analytics_name(deps.group), deps.lead_threshold
    state = StageState("aggregates")

    async def handler(
        event: MessageReceived | ResponseCompleted | ScoresComputed,
    ) -> AsyncIterator[Emit]:
        record = CURRENT_RECORD.get()
        partition = record.partition if record is not None else 0
        key = f"{event.tenant_id}:{partition}"
        updated = apply(state.store.get(key), event, lead_threshold)
        state.store[key] = updated
        yield Emit(ANALYTICS, f"{name}:{key}", AnalyticsSnapshot(
            tenant_id=event.tenant_id, group=name, partition=partition,
            lead_threshold=lead_threshold, minutes=windows(updated, "minutes"),
            hours=windows(updated, "hours")))

    # One event at a time: the state of a key is read, updated and written back whole.
    return StageSpec(name, ANALYTICS_STAGE.inputs, handler, concurrency=1,
                     state=state)
