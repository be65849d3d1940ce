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
# Samples of time to first token kept per window and model, evenly spread over the
# window: a state carries 252 windows, and at 500 newest samples each it reached 335 KB
# after three days at 15 answers a minute (33 ms of CPU per write, bench/analytics_cost).
TTFT_SAMPLES = 100


def _bucket(state: State, granularity: str, at: datetime) -> dict[str, Any]:
    size = GRANULARITIES[granularity]
    start = int(at.timestamp()) // size * size
    windows: dict[str, dict[str, Any]] = state.setdefault(granularity, {})
    return windows.setdefault(str(start), {})


def _add(bucket: dict[str, Any], event: Event, lead_threshold: float) -> None:
    _count(bucket, event)
    if event.assistant is not None:
        per: dict[str, dict[str, Any]] = bucket.setdefault("assistants", {})
        _count(per.setdefault(str(event.assistant), {}), event)
    if isinstance(event, ScoresComputed):
        for field, value in (("intents", event.intent), ("sentiments", event.sentiment)):
            mix: dict[str, int] = bucket.setdefault(field, {})
            mix[value] = mix.get(value, 0) + 1
        if event.lead_score >= lead_threshold:
            bucket["leads"] = bucket.get("leads", 0) + 1
    elif isinstance(event, ResponseCompleted) and event.time_to_first_token_ms is not None:
        _sample(bucket, event.model, event.time_to_first_token_ms)


def _count(bucket: dict[str, Any], event: Event) -> None:
    """The sums a window and an assistant's share of it have in common."""
    if isinstance(event, MessageReceived):
        bucket["messages"] = bucket.get("messages", 0) + 1
    elif isinstance(event, ResponseCompleted):
        bucket["responses"] = bucket.get("responses", 0) + 1
        bucket["prompt_tokens"] = bucket.get("prompt_tokens", 0) + event.usage.prompt_tokens
        bucket["completion_tokens"] = (bucket.get("completion_tokens", 0)
                                       + event.usage.completion_tokens)
    else:
        bucket["scored"] = bucket.get("scored", 0) + 1
        bucket["quality_sum"] = bucket.get("quality_sum", 0.0) + event.quality


def _sample(bucket: dict[str, Any], model: str, ttft_ms: float) -> None:
    """Keep every ``every``-th sample of the window; when more than TTFT_SAMPLES are
    kept, drop every other one and keep every ``2 * every``-th from then on. The kept
    samples stay spread evenly over the window, and the same events keep the same ones."""
    seen: dict[str, int] = bucket.setdefault("ttft_seen", {})
    strides: dict[str, int] = bucket.setdefault("ttft_every", {})
    n, every = seen.get(model, 0), strides.get(model, 1)
    seen[model] = n + 1
    if n % every:
        return
    samples: list[float] = bucket.setdefault("ttft_ms", {}).setdefault(model, [])
    samples.append(round(ttft_ms, 3))
    while len(samples) > TTFT_SAMPLES:
        del samples[1::2]
        every *= 2
        strides[model] = every


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
