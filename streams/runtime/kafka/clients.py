"""Kafka clients as chatstream builds them, and what it asks the cluster about topics.

The one place that knows aiokafka's client options and reaches into its metadata: the
runtime, the lag monitor, ``chatstream replay`` and ``chatstream status`` all build their
clients and read partitions here.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import DefaultPartitioner, murmur2

from streams.runtime.kafka import backoff, faust_flow, faust_offsets

__all__ = ("admin", "install_patches", "partition_of", "partitions", "producer",
           "read_to_end", "reader", "seek_to_time")


def install_patches() -> None:
    """The fixes chatstream makes to its Kafka libraries (each idempotent): installed by
    whatever starts Kafka clients for a long run, never on import."""
    backoff.install()
    faust_flow.install()
    faust_offsets.install()


@functools.lru_cache(maxsize=1 << 14)
def _key_hash(key: bytes) -> int:
    return int(murmur2(key)) & 0x7FFFFFFF


def partition_of(key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
    """The partition Kafka's default partitioner gives ``key`` (murmur2, as the Java
    client: consumers in any language agree on where a conversation's records are), with
    each key's hash remembered. aiokafka computes murmur2 in Python on every send, and an
    answer sends all its token records under one key (one conversation's), so the hash
    was most of choosing a partition; a bounded LRU of recent keys keeps it to once per
    conversation while it is busy."""
    if key is None:
        return int(DefaultPartitioner()(key, all_partitions, available))
    return all_partitions[_key_hash(key) % len(all_partitions)]


def producer(bootstrap: str, *, client_id: str = "chatstream",
             linger_ms: int = 0) -> AIOKafkaProducer:
    """Acknowledged by every in-sync replica, and idempotent: a retried send is written
    once."""
    return AIOKafkaProducer(bootstrap_servers=bootstrap, client_id=client_id, acks="all",
                            enable_idempotence=True, linger_ms=linger_ms,
                            partitioner=partition_of)


def reader(bootstrap: str, *topics: str, client_id: str = "chatstream",
           group_id: str | None = None, **options: Any) -> AIOKafkaConsumer:
    """A consumer that commits only when told to (without a group: never)."""
    return AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, client_id=client_id,
                            group_id=group_id, enable_auto_commit=False, **options)


def admin(bootstrap: str, *, client_id: str = "chatstream") -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id=client_id)


async def partitions(consumer: AIOKafkaConsumer, *topics: str) -> list[TopicPartition]:
    """The partitions of ``topics`` the cluster has now (none of a topic it does not
    have), in order."""
    # A consumer without a subscription keeps no metadata of its own: ask for it.
    metadata = await consumer._client.fetch_all_metadata()
    return [TopicPartition(t, p) for t in topics
            for p in sorted(metadata.partitions_for_topic(t) or ())]


async def seek_to_time(consumer: AIOKafkaConsumer, tps: Sequence[TopicPartition],
                       since_ms: int) -> tuple[dict[TopicPartition, int],
                                               dict[TopicPartition, int]]:
    """Position the (assigned) consumer on each of ``tps`` at its first record written at
    or after ``since_ms``. Returns each partition's end offset, and those of the
    partitions that have records from there on (what is left to read up to the end).

    Ends first, then the time lookup: a record written in between is either found by the
    lookup or lies past the end, so none falls in a gap (a lazy seek to the end would
    resolve later and skip what was written meanwhile)."""
    ends = await consumer.end_offsets(list(tps))
    at_time = await consumer.offsets_for_times({tp: since_ms for tp in tps})
    left = {}
    for tp in tps:
        at = at_time.get(tp)
        start = ends[tp] if at is None else at.offset
        consumer.seek(tp, start)
        if start < ends[tp]:
            left[tp] = ends[tp]
    return ends, left


async def read_to_end(consumer: AIOKafkaConsumer, left: dict[TopicPartition, int],
                      *, timeout_ms: int = 2000) -> AsyncIterator[ConsumerRecord[Any, Any]]:
    """The records of the partitions in ``left`` up to their end offset (as
    :func:`seek_to_time` returns them); stops early if nothing comes for ``timeout_ms``."""
    left = dict(left)
    while left:
        batch = await consumer.getmany(*left, timeout_ms=timeout_ms)
        if not batch:
            return
        for tp, records in batch.items():
            end = left.get(tp, 0)
            for r in records:
                if r.offset < end:
                    yield r
            if await consumer.position(tp) >= end:
                left.pop(tp, None)
