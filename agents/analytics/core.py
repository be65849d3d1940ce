"""The aggregate core: minute and hour windows (by event time) of one tenant on one
partition, as plain JSON-able dicts, so a Faust table or a dict can hold them.

Deterministic: the same events in the same order give the same state, so a new consumer
group reading from offset 0 rebuilds the same numbers. Windows are pruned relative to
the newest event seen, never the wall clock, for the same reason.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from schemas.events import (
    MessageReceived,
    ResponseCompleted,
    ScoresComputed,
    WindowAggregate,
)

__all__ = ("GRANULARITIES", "KEEP", "TTFT_SAMPLES", "apply", "copy", "count", "windows")

State = dict[str, Any]
Event = MessageReceived | ResponseCompleted | ScoresComputed

GRANULARITIES = {"minutes": 60, "hours": 3600}
KEEP = {"minutes": 180, "hours": 72}  # windows kept per granularity
TTFT_SAMPLES = 500  # newest samples kept per window and model


def _bucket(state: State, granularity: str, at: datetime) -> dict[str, Any]:
    size = GRANULARITIES[granularity]
    start = int(at.timestamp()) // size * size
    windows: dict[str, dict[str, Any]] = state.setdefault(granularity, {})
    return windows.setdefault(str(start), {})


def _add(bucket: dict[str, Any], event: Event, lead_threshold: float) -> None:
    if isinstance(event, MessageReceived):
        bucket["messages"] = bucket.get("messages", 0) + 1
    elif isinstance(event, ResponseCompleted):
        bucket["responses"] = bucket.get("responses", 0) + 1
        bucket["prompt_tokens"] = bucket.get("prompt_tokens", 0) + event.usage.prompt_tokens
        bucket["completion_tokens"] = (bucket.get("completion_tokens", 0)
                                       + event.usage.completion_tokens)
        if event.time_to_first_token_ms is not None:
            samples: list[float] = bucket.setdefault("ttft_ms", {}).setdefault(event.model, [])
            samples.append(round(event.time_to_first_token_ms, 3))
            del samples[:-TTFT_SAMPLES]
    else:
        bucket["scored"] = bucket.get("scored", 0) + 1
        bucket["quality_sum"] = bucket.get("quality_sum", 0.0) + event.quality
        for field, value in (("intents", event.intent), ("sentiments", event.sentiment)):
            mix: dict[str, int] = bucket.setdefault(field, {})
            mix[value] = mix.get(value, 0) + 1
        if event.lead_score >= lead_threshold:
            bucket["leads"] = bucket.get("leads", 0) + 1


def apply(state: State | None, event: Event, lead_threshold: float) -> State:
    """``state`` (of the event's tenant and partition) with ``event`` counted; a new dict,
    the input is not changed."""
    new: State = copy(state or {})
    count(new, event, lead_threshold)
    return new


def count(state: State, event: Event, lead_threshold: float) -> None:
    """Count ``event`` into ``state`` in place (the stage counts a batch of events into
    one copy, then writes it once)."""
    at = event.occurred_at if event.occurred_at.tzinfo else event.occurred_at.replace(
        tzinfo=UTC)
    previous = state.get("newest", 0)
    newest = max(previous, int(at.timestamp()))
    state["newest"] = newest
    for granularity, size in GRANULARITIES.items():
        oldest = newest // size * size - (KEEP[granularity] - 1) * size
        if at.timestamp() >= oldest:
            _add(_bucket(state, granularity, at), event, lead_threshold)
        if newest > previous:  # windows only fall out when time moves on
            windows: dict[str, Any] = state.get(granularity, {})
            for start in [s for s in windows if int(s) < oldest]:
                del windows[start]


def copy(value: Any) -> Any:
    """A copy of a state deep enough that counting into it leaves the original as it was."""
    if isinstance(value, dict):
        return {k: copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return list(value)
    return value


def windows(state: State, granularity: str) -> tuple[WindowAggregate, ...]:
    """The state's windows of one granularity as events, oldest first."""
    found: dict[str, dict[str, Any]] = state.get(granularity, {})
    return tuple(
        WindowAggregate(start=datetime.fromtimestamp(int(start), UTC), **bucket)
        for start, bucket in sorted(found.items(), key=lambda kv: int(kv[0])))
