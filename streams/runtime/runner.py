"""Drives one event through a stage's handler: decode, handle, publish, dead-letter.

Shared by both runtimes so they have the same failure semantics: a record is only
acknowledged (its offset committable) after everything it produced was acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import SpanKind, Status, StatusCode

from kernel.backoff import full_jitter
from kernel.errors import EventTooLarge, LogUnavailable, PoisonEvent, StoreUnavailable
from kernel.settings import Settings
from kernel.telemetry import tracing
from kernel.telemetry.logs import request_id_var
from kernel.telemetry.metrics import DEAD_LETTERS, STAGE_EVENTS, STAGE_SECONDS
from schemas.events import DeadLettered
from schemas.stages import topic_name
from schemas.topics import ALL_TOPICS, DLQ, TopicSpec
from streams.codec import decode, fields
from streams.runtime.base import CURRENT_RECORD, Emit, Publisher, Record, StageSpec
from streams.runtime.observe import observe_emit

__all__ = ("StageRetry", "StageRunner")

log = logging.getLogger(__name__)

# How much of a record a dead letter keeps when the whole would not fit the log.
_ORIGINAL_KEPT = 64 * 1024


def _request_id(event: Any) -> str | None:
    for source in (event, getattr(event, "request", None)):
        rid = getattr(source, "request_id", None)
        if isinstance(rid, str) and rid:
            return rid
    return None


def _describe(event: Any) -> str:
    """The ids an operator greps for, without the text (which may be personal)."""
    inner = getattr(event, "request", None)
    for source in (event, inner):
        rid = getattr(source, "request_id", None)
        if rid:
            return f"request_id={rid} type={getattr(event, 'type', '?')}"
    doc = getattr(event, "document_id", None)
    return f"document_id={doc}" if doc else f"type={getattr(event, 'type', '?')}"


@dataclass(frozen=True, slots=True)
class StageRetry:
    """How often a stage tries a failing event again before dead-lettering it, and how
    long it waits in between (also while the store or the log is out)."""

    retries: int
    backoff_s: float
    max_backoff_s: float

    @classmethod
    def of(cls, settings: Settings) -> StageRetry:
        return cls(settings.stage_retries, settings.stage_backoff_s,
                   settings.stage_max_backoff_s)

    def delay(self, attempt: int) -> float:
        return full_jitter(attempt, self.backoff_s, self.max_backoff_s)


class StageRunner:
    def __init__(self, spec: StageSpec, publisher: Publisher, retry: StageRetry, *,
                 topic_prefix: str = "") -> None:
        self.spec = spec
        self._publisher = publisher
        self._retry = retry
        self._by_name: dict[str, TopicSpec] = {
            topic_name(t, topic_prefix): t for t in (*spec.inputs, *ALL_TOPICS)
        }

    async def _wait_out(self, outage: StoreUnavailable | LogUnavailable,
                        attempt: int) -> None:
        delay = self._retry.delay(attempt)
        log.warning("%s: %s unavailable (%s); retrying in %.1fs", self.spec.name,
                    "store" if isinstance(outage, StoreUnavailable) else "log", outage, delay)
        await asyncio.sleep(delay)

    async def process(self, record: Record) -> None:
        """Handle one record inside its stage's span (a child of the span that produced
        the record, from its ``traceparent`` header), counting and timing it."""
        name = self.spec.name
        known = self._by_name.get(record.topic)
        STAGE_EVENTS.labels(name, known.name if known else record.topic, "in").inc()
        parent = tracing.extract(record.headers) if tracing.enabled() else None
        started = time.perf_counter()
        token = request_id_var.set(None)
        current = CURRENT_RECORD.set(record)
        try:
            with tracing.span(f"{name} process", parent, SpanKind.CONSUMER) as span:
                if span.is_recording():
                    span.set_attributes({"messaging.system": "kafka",
                                         "messaging.destination.name": record.topic,
                                         "messaging.kafka.partition": record.partition,
                                         "messaging.kafka.offset": record.offset,
                                         "chatstream.stage": name})
                await self._process(record)
        finally:
            STAGE_SECONDS.labels(name).observe(time.perf_counter() - started)
            CURRENT_RECORD.reset(current)
            request_id_var.reset(token)

    async def _process(self, record: Record) -> None:
        topic = self._by_name.get(record.topic)
        if topic is None:
            await self._dead_letter(record, PoisonEvent(f"unknown topic {record.topic}"), 1)
            return
        try:
            event = decode(topic, record.value)
        except PoisonEvent as exc:
            await self._dead_letter(record, exc, 1)
            return
        request_id_var.set(_request_id(event))
        tracing.annotate(tracing.current_span(), event)
        log.info("%s: handling %s@%d:%d %s", self.spec.name, record.topic, record.partition,
                 record.offset, _describe(event))
        attempt = 0
        while True:
            attempt += 1
            try:
                await self._handle(event)
                return
            except (StoreUnavailable, LogUnavailable) as exc:
                # An outage is not the event's fault: wait it out instead of dead-lettering.
                await self._wait_out(exc, attempt)
            except Exception as exc:
                STAGE_EVENTS.labels(self.spec.name, topic.name, "error").inc()
                tracing.current_span().record_exception(exc)
                if isinstance(exc, PoisonEvent) or attempt > self._retry.retries:
                    log.exception("%s: giving up on %s@%d:%d", self.spec.name,
                                  record.topic, record.partition, record.offset)
                    await self._dead_letter(record, exc, attempt, event)
                    return
                delay = self._retry.delay(attempt)
                log.warning("%s: attempt %d failed (%s: %s); retrying in %.2fs",
                            self.spec.name, attempt, type(exc).__name__, exc, delay)
                await asyncio.sleep(delay)

    async def _handle(self, event: Any) -> None:
        pending = []
        emitted: list[Emit] = []
        out = self.spec.handler(event)
        if not isinstance(out, AsyncIterator):
            await out  # a sink
            return
        async for emit in out:
            pending.append(await self._publisher.send(emit.topic, emit.key, emit.event,
                                                      partition=emit.partition))
            emitted.append(emit)
        for ack in pending:
            await ack
        for emit in emitted:
            observe_emit(self.spec.name, emit)

    async def _dead_letter(self, record: Record, exc: BaseException, attempts: int,
                           event: Any | None = None) -> None:
        known = self._by_name.get(record.topic)
        STAGE_EVENTS.labels(self.spec.name, known.name if known else record.topic,
                            "dead_letter").inc()
        DEAD_LETTERS.labels(self.spec.name).inc()
        tracing.current_span().set_status(Status(StatusCode.ERROR, type(exc).__name__))
        tenant = "unknown"
        with contextlib.suppress(PoisonEvent):
            tenant = str(fields(record.value).get("tenant_id", "unknown"))
        letter = DeadLettered(
            tenant_id=tenant,
            stage=self.spec.name,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key.decode(errors="replace") if record.key is not None else None,
            original=record.value.decode(errors="replace"),
            error=str(exc)[:2000],
            error_type=type(exc).__name__,
            attempts=attempts,
        )
        hook = self.spec.on_dead_letter
        attempt = 0
        while True:
            # The record is only acknowledged once its dead letter is in the log: during
            # an outage, wait for the log rather than lose the record.
            try:
                await self._publisher.publish(DLQ, None, letter)
                break
            except EventTooLarge:
                if len(letter.original) <= _ORIGINAL_KEPT:
                    raise
                # The record fit its topic; with the letter's fields around it, it no
                # longer fits: keep its beginning (the ids are there) and say so.
                letter = letter.model_copy(update={
                    "original": letter.original[:_ORIGINAL_KEPT],
                    "error": f"{letter.error} (original cut to {_ORIGINAL_KEPT} of "
                             f"{len(letter.original)} characters)"[:2000]})
            except LogUnavailable as down:
                attempt += 1
                await self._wait_out(down, attempt)
        for emit in hook(record, event) if hook else ():
            while True:
                try:
                    await self._publisher.publish(emit.topic, emit.key, emit.event,
                                                  partition=emit.partition)
                    break
                except LogUnavailable as down:
                    attempt += 1
                    await self._wait_out(down, attempt)
