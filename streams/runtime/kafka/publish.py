"""Publishing to Kafka: two idempotent producers (immediate and bulk) that are replaced
when the broker has forgotten their sequence numbers, and the mapping of Kafka's errors
onto the runtime's (``LogUnavailable`` is retried, ``EventTooLarge`` dead-lettered)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidProducerEpoch,
    InvalidProducerIdMapping,
    KafkaError,
    MessageSizeTooLargeError,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    RecordListTooLargeError,
    RecordTooLargeError,
    UnknownProducerId,
)
from pydantic import BaseModel

from kernel.errors import EventTooLarge, LogUnavailable
from kernel.telemetry.tracing import with_trace
from schemas.stages import topic_name
from schemas.topics import ANALYTICS, BATCH_REQUESTS, BATCH_STATUS, DLQ, INGEST, SCORES, TopicSpec
from streams.codec import encode
from streams.runtime.base import Headers, with_request_id

__all__ = ("KafkaPublisher", "RenewingProducer")

log = logging.getLogger(__name__)

# Topics nobody waits on interactively: their records may wait a few ms to travel in
# batches. Requests, tokens, responses and control go at once (linger 0).
_BULK = frozenset(t.name for t in (ANALYTICS, BATCH_REQUESTS, BATCH_STATUS, DLQ, INGEST,
                                   SCORES))
BULK_LINGER_MS = 20

# Too large for the producer (max_request_size) or for the broker (message.max.bytes):
# retrying would refuse it forever and wedge the stage's partition behind it.
_TOO_LARGE = (MessageSizeTooLargeError, RecordListTooLargeError, RecordTooLargeError)

# A broker that restarted without its producer-state snapshot (killed, not stopped) no
# longer knows this producer's id or expects other sequence numbers. aiokafka does not
# recover from that: the failed batch's sequence numbers stay spent, so every later batch
# to the partition fails the same way, forever. A new producer (new id, sequences from 0)
# is the recovery the Java client performs by bumping its epoch.
_SEQUENCE_LOST = (OutOfOrderSequenceNumber, UnknownProducerId, InvalidProducerIdMapping,
                  InvalidProducerEpoch, ProducerFenced)


class RenewingProducer:
    """An idempotent producer, replaced by a fresh one after a sequence error."""

    def __init__(self, factory: Callable[[], AIOKafkaProducer]) -> None:
        self._factory = factory
        self._current: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        self._retired: set[asyncio.Task[None]] = set()

    @property
    def current(self) -> AIOKafkaProducer:
        if self._current is None:
            raise RuntimeError("RenewingProducer.start() was not called")
        return self._current

    async def start(self) -> None:
        self._current = self._factory()
        await self._current.start()

    async def renew(self, failed: AIOKafkaProducer) -> None:
        async with self._lock:
            if self._current is not failed:
                return  # another send saw the same error and renewed it already
            fresh = self._factory()
            await fresh.start()
            self._current = fresh
        log.warning("kafka producer replaced: the broker lost its sequence numbers")
        # Batches still queued in the old producer fail the same way; their senders are
        # told the log was unavailable and retry on the new one. Stop it off this path.
        task = asyncio.create_task(_stop(failed))
        self._retired.add(task)
        task.add_done_callback(self._retired.discard)

    async def stop(self) -> None:
        await asyncio.gather(*self._retired, return_exceptions=True)
        if self._current is not None:
            await self._current.stop()
            self._current = None


async def _stop(producer: AIOKafkaProducer) -> None:
    with contextlib.suppress(KafkaError, asyncio.TimeoutError):
        await asyncio.wait_for(producer.stop(), 30)


class KafkaPublisher:
    def __init__(self, producer: RenewingProducer, prefix: str,
                 bulk: RenewingProducer | None = None) -> None:
        self._producer = producer
        self._bulk = bulk or producer
        self._prefix = prefix

    async def send(self, topic: TopicSpec, key: str | None, event: BaseModel,
                   headers: Headers = (), partition: int | None = None) -> Awaitable[Any]:
        headers = with_request_id(with_trace(headers, event), event)
        name = topic_name(topic, self._prefix)
        holder = self._bulk if topic.name in _BULK else self._producer
        producer = holder.current
        if partition is not None and partition not in (
                producer.client.cluster.partitions_for_topic(name) or {partition}):
            partition = None  # a reply partition the topic no longer has: the key's
        try:
            fut: Awaitable[Any] = await producer.send(
                name,
                value=encode(event),
                key=key.encode() if key is not None else None,
                headers=list(headers) or None,
                partition=partition,
            )
        except _TOO_LARGE as exc:
            raise _too_large(topic.name, exc) from exc
        except KafkaError as exc:
            if isinstance(exc, _SEQUENCE_LOST):
                await holder.renew(producer)
            raise LogUnavailable(f"kafka refused {topic.name}: {type(exc).__name__}") from exc
        return _acknowledged(fut, topic.name, holder, producer)

    async def publish(self, topic: TopicSpec, key: str | None, event: BaseModel,
                      headers: Headers = (), partition: int | None = None) -> None:
        # send() turns Kafka's errors into LogUnavailable, after the producer's retries.
        await (await self.send(topic, key, event, headers, partition))


def _too_large(topic: str, exc: Exception) -> EventTooLarge:
    return EventTooLarge(f"the event is too large for {topic}: {type(exc).__name__}")


async def _acknowledged(fut: Awaitable[Any], topic: str, holder: RenewingProducer,
                        producer: AIOKafkaProducer) -> Any:
    # A broker outage while waiting for the acknowledgement is the log's, not the
    # event's: callers retry LogUnavailable instead of dead-lettering the event.
    try:
        return await fut
    except _TOO_LARGE as exc:
        raise _too_large(topic, exc) from exc
    except KafkaError as exc:
        if isinstance(exc, _SEQUENCE_LOST):
            await holder.renew(producer)
        raise LogUnavailable(f"kafka did not acknowledge {topic}: "
                             f"{type(exc).__name__}", maybe_written=True) from exc
