"""The analytics aggregate core (windows by event time, deterministic, pruned) and the
stage's batching of one key's events."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import cast

from agents.analytics.core import KEEP, TTFT_SAMPLES, apply, copy, count, windows
from agents.analytics.stage import AnalyticsDeps
from agents.analytics.stage import stage as analytics_stage
from api.views.analytics import AnalyticsView, percentile
from kernel.errors import StoreUnavailable
from schemas.events import (
    AnalyticsSnapshot,
    MessageReceived,
    ResponseCompleted,
    ScoresComputed,
    Usage,
    WindowAggregate,
)
from streams.codec import encode
from streams.runtime.base import Emit, Record, Runtime, StageSpec

T0 = datetime(2026, 11, 21, 12, 0, 30, tzinfo=UTC)


def _msg(at: datetime) -> MessageReceived:
    return MessageReceived(tenant_id="t", request_id="r", message_id="m", conversation_id="c",
                           user_id="u", text="hi", model="local", occurred_at=at)


def _resp(at: datetime, ttft: float, model: str = "local") -> ResponseCompleted:
    return ResponseCompleted(
        tenant_id="t", request_id="r", message_id="m", conversation_id="c", user_id="u",
        reply_to="m0", prompt="hi", text="hello", model=model, provider="local",
        usage=Usage(prompt_tokens=3, completion_tokens=5), finish_reason="stop",
        attempt="a", time_to_first_token_ms=ttft, duration_ms=50.0, occurred_at=at)


def _score(at: datetime, quality: float, lead: float, intent: str = "sales") -> ScoresComputed:
    return ScoresComputed(
        tenant_id="t", request_id="r", message_id="m", conversation_id="c", user_id="u",
        sentiment="positive", sentiment_score=0.5, intent=intent,  # type: ignore[arg-type]
        quality=quality, lead_score=lead, occurred_at=at)


def test_events_fall_into_their_minute_and_hour() -> None:
    events = [_msg(T0), _resp(T0, 100.0), _score(T0, 0.8, 0.9),
              _msg(T0 + timedelta(minutes=1)), _score(T0 + timedelta(minutes=1), 0.4, 0.1,
                                                      "faq")]
    state = None
    for e in events:
        state = apply(state, e, lead_threshold=0.7)
    assert state is not None
    minutes = windows(state, "minutes")
    assert [w.start.minute for w in minutes] == [0, 1]
    assert minutes[0].messages == 1 and minutes[0].completion_tokens == 5
    assert minutes[0].leads == 1 and minutes[1].leads == 0
    assert minutes[0].ttft_ms == {"local": (100.0,)}
    (hour,) = windows(state, "hours")
    assert hour.messages == 2 and hour.scored == 2
    assert hour.quality_sum == 0.8 + 0.4
    assert hour.intents == {"sales": 1, "faq": 1}


def test_same_events_same_state_and_input_untouched() -> None:
    events = [_msg(T0), _resp(T0, 10.0), _score(T0, 0.5, 0.5)]
    a = b = None
    for e in events:
        a = apply(a, e, 0.7)
    before = repr(a)
    for e in events:
        b = apply(b, e, 0.7)
    assert a == b
    apply(a, _msg(T0), 0.7)
    assert repr(a) == before


def test_old_windows_are_pruned_relative_to_the_newest_event() -> None:
    state = apply(None, _msg(T0), 0.7)
    later = T0 + timedelta(minutes=KEEP["minutes"] + 5)
    state = apply(state, _msg(later), 0.7)
    assert [w.start for w in windows(state, "minutes")] == [
        later.replace(second=0)]
    # A late event older than every kept window is not counted in minutes.
    state = apply(state, _msg(T0), 0.7)
    assert len(windows(state, "minutes")) == 1


def test_p95_is_nearest_rank() -> None:
    assert percentile([float(i) for i in range(1, 101)], 95) == 95.0
    assert percentile([7.0], 95) == 7.0


async def _run(spec: StageSpec, event: object) -> list[Emit]:
    out = spec.handler(event)
    assert isinstance(out, AsyncIterator)
    return [e async for e in out]


async def test_events_of_one_key_are_written_and_published_once_together() -> None:
    """Ten events at once: one state write and one snapshot counting all ten, and no
    event completes (becomes committable) before the write that counted it."""
    spec = analytics_stage(AnalyticsDeps(flush_s=0.2))
    assert spec.state is not None
    writes: list[dict[str, object]] = []

    class Store(dict[str, object]):
        def __setitem__(self, key: str, value: object) -> None:
            writes.append(copy(value))
            super().__setitem__(key, value)

    spec.state.store = Store()
    done: list[int] = []

    async def one(i: int) -> list[Emit]:
        emits = await _run(spec, _msg(T0))
        done.append(len(writes))
        return emits

    results = await asyncio.gather(*(one(i) for i in range(10)))
    emits = [e for r in results for e in r]
    assert len(writes) == 1 and done == [1] * 10
    assert len(emits) == 1
    snapshot = emits[0].event
    assert isinstance(snapshot, AnalyticsSnapshot)
    assert snapshot.minutes[0].messages == 10 and snapshot.hours[0].messages == 10
    # The next event starts a batch of its own from the state written.
    (later,) = await _run(spec, _msg(T0))
    assert isinstance(later.event, AnalyticsSnapshot) and later.event.hours[0].messages == 11


async def test_a_batch_that_cannot_be_written_fails_every_event_of_it() -> None:
    """No event completes uncounted: when the state write fails, each event of the batch
    fails too (the runner retries them one by one)."""
    spec = analytics_stage(AnalyticsDeps(flush_s=0.1))
    assert spec.state is not None

    class Down(dict[str, object]):
        def __setitem__(self, key: str, value: object) -> None:
            raise StoreUnavailable("state store down")

    spec.state.store = Down()
    results = await asyncio.gather(*(_run(spec, _msg(T0)) for _ in range(3)),
                                   return_exceptions=True)
    assert [type(r) for r in results] == [StoreUnavailable] * 3


def test_ttft_samples_are_bounded_and_spread_over_the_window() -> None:
    state: dict[str, object] = {}
    for i in range(1000):
        count(state, _resp(T0 + timedelta(milliseconds=20 * i), float(i)), 0.7)
    (minute,) = windows(state, "minutes")
    kept = minute.ttft_ms["local"]
    assert 50 <= len(kept) <= TTFT_SAMPLES
    assert kept[0] == 0.0 and kept[-1] > 900  # from the window's start to its end
    gaps = {b - a for a, b in itertools.pairwise(kept)}
    assert len(gaps) == 1  # evenly: every n-th answer
    assert minute.responses == 1000


def test_each_assistant_version_has_its_share_of_a_window() -> None:
    from api.views.analytics import _merge
    from schemas.events import AssistantRef

    v1, v2 = AssistantRef(name="support", version=1), AssistantRef(name="support", version=2)
    events = [_msg(T0).model_copy(update={"assistant": v1}),
              _resp(T0, 10.0).model_copy(update={"assistant": v1}),
              _score(T0, 0.5, 0.1).model_copy(update={"assistant": v1}),
              _msg(T0).model_copy(update={"assistant": v2}),
              _score(T0, 0.9, 0.1).model_copy(update={"assistant": v2}),
              _msg(T0)]  # no assistant: in the window's totals only
    state = None
    for e in events:
        state = apply(state, e, lead_threshold=0.7)
    assert state is not None
    (minute,) = windows(state, "minutes")
    assert minute.messages == 3 and minute.scored == 2
    summary = _merge(minute.start, [minute, minute])  # two partitions alike add up
    assert summary.assistants["support@1"].model_dump() == {
        "messages": 2, "responses": 2, "tokens": 16, "scored": 2, "mean_quality": 0.5}
    assert summary.assistants["support@2"].mean_quality == 0.9
    assert set(summary.assistants) == {"support@1", "support@2"}


def test_since_without_a_time_zone_is_read_as_utc() -> None:
    """``?since=2026-12-08`` (a date, as README's example reads) was a 500: a naive
    datetime compared with the windows' UTC starts."""
    view = AnalyticsView(cast(Runtime, None), "analytics")
    at = datetime(2026, 12, 8, 4, 11, tzinfo=UTC)
    minutes = (WindowAggregate(start=at, messages=2),
               WindowAggregate(start=at - timedelta(days=1), messages=5))
    snap = AnalyticsSnapshot(tenant_id="t", group="analytics", partition=0,
                             lead_threshold=0.7, minutes=minutes)
    view.apply(Record("analytics.summary.v1", 0, 0, b"t", encode(snap), 0))
    found = view.summary("t", "minutes", datetime(2026, 12, 8))
    assert [w.start for w in found.windows] == [at]
    assert found.totals is not None and found.totals.messages == 2
