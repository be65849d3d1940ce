"""The Kafka runtime: the stages a process runs are agents of one Faust app (one consumer,
one commit timer, one consumer group: the process's role); the edge publishes and tails
with aiokafka directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import faust
from aiokafka import AIOKafkaProducer
from aiokafka.admin import NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from kernel.errors import LogUnavailable
from kernel.settings import Settings, TopicRetention
from schemas.stages import group_name, role_name, topic_name
from schemas.topics import ALL_TOPICS, TopicSpec
from streams.runtime.base import Record, StageSpec, follow_broadcast
from streams.runtime.kafka import clients
from streams.runtime.kafka.carry_over import Floors, carry_over
from streams.runtime.kafka.publish import BULK_LINGER_MS, KafkaPublisher, RenewingProducer
from streams.runtime.retention import topic_retention
from streams.runtime.runner import StageRetry, StageRunner

__all__ = ("KafkaPublisher", "KafkaRuntime", "create_topics")

log = logging.getLogger(__name__)


async def create_topics(bootstrap: str, *, prefix: str, partitions: int, replication: int,
                        retention: Mapping[str, TopicRetention] | None = None) -> list[str]:
    """Create every registered topic that does not exist, with its retention (``retention``
    overrides by topic name); returns the names created."""
    rules = topic_retention("", retention)
    admin = clients.admin(bootstrap)
    await admin.start()
    created: list[str] = []
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(
                name=topic_name(t, prefix),
                num_partitions=t.partitions if t.partitions == 1 else partitions,
                replication_factor=replication,
                topic_configs=({"cleanup.policy": "compact"} if t.compacted
                               else {"retention.ms": str(rules[t.name].ms),
                                     "retention.bytes": str(rules[t.name].bytes)}),
            )
            for t in ALL_TOPICS
            if topic_name(t, prefix) not in existing
        ]
        for topic in wanted:
            try:
                await admin.create_topics([topic])
                created.append(topic.name)
            except TopicAlreadyExistsError:
                pass  # another process won the race; the topic is there either way
    finally:
        await admin.close()
    return created


# How long a fetch may wait on the broker for new records. aiokafka leaves a partition out
# of the next fetch while its last records are unread, and a fetch already waiting on the
# broker holds back the one that would include it again: a short wait bounds that delay
# for readers a client waits on (the relay). Every wait that ends empty is one more fetch
# round trip, though (the edge's profile: most of its fetch cost was sending fetches), so
# the edge's other views wait longer.
_INTERACTIVE_WAIT_MS = 50
_QUIET_WAIT_MS = 500


class KafkaRuntime:
    kind = "kafka"

    def __init__(self, bootstrap: str, *, topic_prefix: str = "", partitions: int = 6,
                 replication: int = 1, retry: StageRetry | None = None,
                 data_dir: Path = Path(".chatstream"),
                 client_id: str = "chatstream", session_timeout_s: float = 10.0,
                 retention: Mapping[str, TopicRetention] | None = None) -> None:
        self._retention = retention
        self._bootstrap = bootstrap
        self._prefix = topic_prefix
        self._partitions = partitions
        self._replication = replication
        self._retry = retry or StageRetry.of(Settings.defaults())
        self._data_dir = data_dir
        self._client_id = client_id
        self._session_timeout_s = session_timeout_s
        self._producer: RenewingProducer | None = None
        self._bulk: RenewingProducer | None = None
        self._publisher: KafkaPublisher | None = None
        self._app: faust.App | None = None
        self._broadcasts: list[asyncio.Task[None]] = []

    @property
    def publisher(self) -> KafkaPublisher:
        if self._publisher is None:
            raise RuntimeError("KafkaRuntime.start() was not called")
        return self._publisher

    async def start(self, stages: Sequence[StageSpec] = ()) -> None:
        clients.install_patches()
        await create_topics(self._bootstrap, prefix=self._prefix,
                            partitions=self._partitions, replication=self._replication,
                            retention=self._retention)
        self._producer, self._bulk = (RenewingProducer(self._producer_factory(linger))
                                      for linger in (0, BULK_LINGER_MS))
        await self._producer.start()
        await self._bulk.start()
        self._publisher = KafkaPublisher(self._producer, self._prefix, self._bulk)
        if not stages:
            return
        role = role_name(s.name for s in stages)
        floors = await carry_over(self._bootstrap, self._prefix,
                                  group_name(role, self._prefix), stages)
        self._app = self._faust_app(role, stages, floors)
        await self._app.start()
        self._broadcasts += [asyncio.create_task(follow_broadcast(self, spec, b))
                             for spec in stages for b in spec.broadcasts]

    def _producer_factory(self, linger_ms: int) -> Callable[[], AIOKafkaProducer]:
        def make() -> AIOKafkaProducer:
            return clients.producer(self._bootstrap, client_id=self._client_id,
                                    linger_ms=linger_ms)
        return make

    def _faust_app(self, role: str, stages: Sequence[StageSpec],
                   floors: Floors) -> faust.App:
        datadir = self._data_dir / "faust" / role
        datadir.mkdir(parents=True, exist_ok=True)
        app = faust.App(
            group_name(role, self._prefix),
            broker=f"kafka://{self._bootstrap}",
            web_enabled=False,
            datadir=str(datadir),
            topic_partitions=self._partitions,
            topic_replication_factor=self._replication,
            consumer_auto_offset_reset="earliest",
            broker_commit_every=100,
            broker_commit_interval=1.0,
            # Processing an answer can take minutes of streaming; the consumer keeps
            # heart-beating from its own task, so only a dead process is evicted.
            broker_max_poll_interval=600.0,
            # A killed worker's partitions move to the rest of the group after this.
            broker_session_timeout=self._session_timeout_s,
            broker_heartbeat_interval=self._session_timeout_s / 4,
            # host-pid in the client id: `kafka-consumer-groups --describe` then names
            # the process that owns each partition.
            broker_client_id=f"chatstream-{role}-{socket.gethostname()}-{os.getpid()}",
        )
        for spec in stages:
            self._agent(app, spec, floors.get(spec.name))
        return app

    def _agent(self, app: faust.App, spec: StageSpec,
               floors: Mapping[tuple[str, int], int] | None) -> None:
        """``spec`` as an agent of ``app`` on its own input topics. Two agents of one app
        reading a topic each get every record; the app commits an offset once every agent
        is done with the records before it."""
        if spec.state is not None:
            # Changelogged by Faust, partitioned like the inputs: a write goes to the
            # changelog partition of the record being handled. The topic is named after
            # the stage, not the app, so the state outlives a change of role.
            schema: faust.Schema[str, Any] = faust.Schema(key_serializer="json",
                                                          value_serializer="json")
            spec.state.store = app.Table(
                spec.state.name, default=None, partitions=self._partitions, schema=schema,
                changelog_topic=app.topic(
                    f"{group_name(spec.name, self._prefix)}-{spec.state.name}-changelog",
                    schema=schema, partitions=self._partitions, compacting=True,
                    deleting=False, acks=False, internal=True))
        runner = StageRunner(spec, self.publisher, self._retry, topic_prefix=self._prefix)
        channel = app.topic(
            *(topic_name(t, self._prefix) for t in spec.inputs),
            key_serializer="raw",
            value_serializer="raw",
        )

        async def agent(stream: Any) -> None:
            async for event in stream.events():
                message = event.message
                if floors and message.offset < floors.get((message.topic, message.partition),
                                                          -1):
                    continue  # handled in the stage's own group before its role's
                await runner.process(Record(
                    topic=message.topic,
                    partition=message.partition,
                    offset=message.offset,
                    key=message.key,
                    value=message.value,
                    timestamp_ms=int(message.timestamp * 1000),
                    headers=tuple(message.headers or ()),
                ))

        app.agent(channel, name=spec.name, concurrency=spec.concurrency)(agent)

    async def stop(self) -> None:
        for t in self._broadcasts:
            t.cancel()
        await asyncio.gather(*self._broadcasts, return_exceptions=True)
        self._broadcasts.clear()
        if self._app is not None:
            with contextlib.suppress(Exception):
                await self._app.stop()
            self._app = None
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
        if self._bulk is not None:
            await self._bulk.stop()
            self._bulk = None

    async def partition_count(self, topic: TopicSpec) -> int:
        if self._producer is None:
            raise RuntimeError("KafkaRuntime.start() was not called")
        name = topic_name(topic, self._prefix)
        found = self._producer.current.client.cluster.partitions_for_topic(name)
        # A topic created a moment ago (start() creates missing ones) takes a little
        # while to show in the metadata.
        deadline = asyncio.get_running_loop().time() + 30.0
        while not found:
            if asyncio.get_running_loop().time() > deadline:
                raise LogUnavailable(f"kafka has no topic {name}")
            await self._producer.current.client.force_metadata_update()
            found = self._producer.current.client.cluster.partitions_for_topic(name)
            if not found:
                await asyncio.sleep(0.5)
        return len(found)

    def tail(self, topic: TopicSpec, since_ms: int,
             positioned: Callable[[], None] | None = None,
             partitions: Sequence[int] | None = None,
             *, interactive: bool = True) -> AsyncIterator[Record]:
        return self._read(topic, since_ms, positioned, partitions, until_end=False,
                          max_wait_ms=_INTERACTIVE_WAIT_MS if interactive else _QUIET_WAIT_MS)

    def scan(self, topic: TopicSpec, since_ms: int,
             partitions: Sequence[int] | None = None) -> AsyncIterator[Record]:
        return self._read(topic, since_ms, None, partitions, until_end=True,
                          max_wait_ms=_INTERACTIVE_WAIT_MS)

    async def _read(self, topic: TopicSpec, since_ms: int,
                    positioned: Callable[[], None] | None, partitions: Sequence[int] | None,
                    *, until_end: bool, max_wait_ms: int) -> AsyncIterator[Record]:
        name = topic_name(topic, self._prefix)
        only = None if partitions is None else set(partitions)
        consumer = clients.reader(self._bootstrap, client_id=f"{self._client_id}-relay",
                                  fetch_max_wait_ms=max_wait_ms)
        await consumer.start()
        try:
            found = await clients.partitions(consumer, name)
            while not found:
                await asyncio.sleep(0.5)
                found = await clients.partitions(consumer, name)
            tps = [tp for tp in found if only is None or tp.partition in only]
            consumer.assign(tps)
            ends, left = await clients.seek_to_time(consumer, tps, since_ms)
            if positioned is not None:
                positioned()
            if until_end:
                consumer.pause(*(tp for tp in tps if tp not in left))
            while not until_end or left:
                batch = await consumer.getmany(timeout_ms=1000)
                for tp, msgs in batch.items():
                    for m in msgs:
                        if until_end and m.offset >= ends[tp]:
                            break
                        yield Record(m.topic, m.partition, m.offset, m.key, m.value,
                                     m.timestamp, tuple(m.headers or ()))
                    if until_end and tp in left and await consumer.position(tp) >= ends[tp]:
                        left.pop(tp, None)
                        consumer.pause(tp)
        finally:
            await consumer.stop()

    async def ready(self) -> tuple[bool, str]:
        if self._producer is None:
            return False, "not started"
        try:
            await asyncio.wait_for(self._producer.current.client.fetch_all_metadata(), 5)
        except (KafkaError, TimeoutError) as exc:
            return False, f"kafka unreachable: {type(exc).__name__}"
        return True, f"kafka {self._bootstrap}"
