"""The local servers are real: Kafka, Cassandra and Weaviate through their official clients.

The servers are started by ``python3 deploy/local/services.py start`` (``make services``);
addresses come from the same settings the launcher reads (CHATSTREAM_KAFKA_PORT,
CHATSTREAM_CASSANDRA_PORT, CHATSTREAM_WEAVIATE_PORT, CHATSTREAM_WEAVIATE_GRPC_PORT).
An unreachable server FAILS its test, in CI and outside it: nothing here is ever skipped.

Written to pass under ``-W error``; see the notes on each client below.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

HOST = "127.0.0.1"
KAFKA_PORT = int(os.environ.get("CHATSTREAM_KAFKA_PORT") or 9092)
CASSANDRA_PORT = int(os.environ.get("CHATSTREAM_CASSANDRA_PORT") or 9042)
WEAVIATE_PORT = int(os.environ.get("CHATSTREAM_WEAVIATE_PORT") or 8080)
WEAVIATE_GRPC_PORT = int(os.environ.get("CHATSTREAM_WEAVIATE_GRPC_PORT") or 50051)
KAFKA = f"{HOST}:{KAFKA_PORT}"
TIMEOUT = 60.0  # per waiting step; generous for a 2-core machine running all three servers


def require_server(name: str, *ports: int) -> None:
    """Fail (never skip) when a server does not accept connections."""
    for port in ports:
        error: OSError | None = None
        try:
            with socket.create_connection((HOST, port), timeout=3):
                pass
        except OSError as exc:
            error = exc
        if error is not None:
            pytest.fail(
                f"{name} is not reachable at {HOST}:{port} ({error}). Start it with "
                f"`python3 deploy/local/services.py start {name}` (or `make services`).",
                pytrace=False,
            )


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# ------------------------------------------------------------------------------ Kafka


async def delete_topics(*prefixes: str) -> None:
    """Leave the shared broker tidy: delete the topics this test created."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(prefixes)]
        if names:
            await admin.delete_topics(names)
    finally:
        await admin.close()


async def create_topic(name: str, partitions: int = 1) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    finally:
        await admin.close()


async def consume(topic: str, count: int) -> list[tuple[bytes | None, bytes | None]]:
    """Read `count` records of `topic` from the beginning (no consumer group)."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=KAFKA, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    records: list[tuple[bytes | None, bytes | None]] = []
    try:
        async with asyncio.timeout(TIMEOUT):
            async for msg in consumer:
                records.append((msg.key, msg.value))
                if len(records) >= count:
                    break
    finally:
        await consumer.stop()
    return records


@pytest.mark.kafka
async def test_kafka_produce_and_consume_on_a_new_topic() -> None:
    require_server("kafka", KAFKA_PORT)
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    topic = unique("it-kafka")
    try:
        await create_topic(topic, partitions=2)
        producer = AIOKafkaProducer(bootstrap_servers=KAFKA, acks="all", enable_idempotence=True)
        await producer.start()
        try:
            sent = [(f"k{i}".encode(), f"message {i}".encode()) for i in range(5)]
            for key, value in sent:
                meta = await producer.send_and_wait(topic, value, key=key)
                assert meta.topic == topic
                assert meta.offset >= 0
        finally:
            await producer.stop()

        # a consumer group (the way the services consume): joins, reads, commits
        group = unique("it-group")
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=KAFKA,
            group_id=group,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        received: list[tuple[bytes | None, bytes | None]] = []
        try:
            async with asyncio.timeout(TIMEOUT):
                async for msg in consumer:
                    received.append((msg.key, msg.value))
                    if len(received) == len(sent):
                        break
            await consumer.commit()
            committed = {tp: await consumer.committed(tp) for tp in consumer.assignment()}
        finally:
            await consumer.stop()
        assert sorted(received) == sorted(sent)
        assert sum(offset or 0 for offset in committed.values()) == len(sent)
    finally:
        await delete_topics(topic)


# ------------------------------------------------------------------------------ Faust


def make_faust_app(app_id: str, datadir: Path, source: str, sink: str):
    """A Faust app with one agent: source -> upper-case -> sink (raw bytes both ways).

    What running Faust (faust-streaming 0.15.3) in-process takes, found while writing this:
    * ``await app.start()`` / ``await app.stop()`` is enough: no Worker (a Worker installs
      signal handlers and runs its own loop). It starts in ~1 s on this broker.
    * ``web_enabled=False``: otherwise ``app.start()`` binds the web server to 0.0.0.0:6066,
      which collides as soon as two apps (or two test runs) start on one machine.
    * ``datadir`` is created with ``mkdir()`` without ``parents=True``: its parent must exist,
      else ``app.start()`` fails with FileNotFoundError.
    * Faust does NOT create the topics an agent consumes. If the source topic does not exist
      when the app starts, the assignor logs "Ignoring missing topic", the agent is never
      assigned a partition and silently sees nothing (until a metadata refresh minutes
      later), even with ``auto.create.topics.enable=true``. Create the topics first (or
      declare them) -- the test does.
    * Faust creates ``<app id>-__assignor-__leader`` itself, with the app's
      ``topic_partitions`` (default 8): set ``topic_partitions=1`` and
      ``topic_replication_factor=1`` for a one-node broker; the test deletes it afterwards.
    * ``consumer_auto_offset_reset`` defaults to "earliest", so a record produced right after
      ``app.start()`` returns (before the group has rebalanced) is still processed.
    * Build the App in the test (a factory): each test gets its own app id, consumer group
      and datadir, and nothing is bound to a loop at import time.
    """
    import faust

    app = faust.App(
        app_id,
        broker=f"kafka://{KAFKA}",
        store="memory://",
        datadir=str(datadir),
        web_enabled=False,
        topic_partitions=1,
        topic_replication_factor=1,
        producer_acks=-1,
    )
    source_topic = app.topic(
        source, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )
    sink_topic = app.topic(
        sink, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )

    @app.agent(source_topic)
    async def shout(stream: AsyncIterator[bytes]) -> None:
        async for event in stream.events():
            await sink_topic.send(key=event.key, value=event.value.upper())

    return app


@pytest.mark.kafka
async def test_faust_agent_consumes_and_produces_on_the_real_broker(tmp_path: Path) -> None:
    require_server("kafka", KAFKA_PORT)
    from aiokafka import AIOKafkaProducer

    app_id = unique("it-faust")
    source, sink = f"{app_id}-in", f"{app_id}-out"
    await create_topic(source)
    await create_topic(sink)
    app = make_faust_app(app_id, tmp_path / "faust", source, sink)
    try:
        await app.start()
        producer = AIOKafkaProducer(bootstrap_servers=KAFKA)
        await producer.start()
        try:
            await producer.send_and_wait(source, b"hello from aiokafka", key=b"conversation-1")
        finally:
            await producer.stop()
        records = await consume(sink, 1)
    finally:
        await app.stop()
        await delete_topics(app_id)
    assert records == [(b"conversation-1", b"HELLO FROM AIOKAFKA")]


# -------------------------------------------------------------------------- Cassandra


@pytest.mark.cassandra
def test_cassandra_keyspace_table_and_rows_round_trip() -> None:
    """cassandra-driver 3.30 against Cassandra 5.0.

    Connection class: ``cassandra.io.asyncioreactor.AsyncioConnection``, chosen explicitly.
    The driver's default is libev when its C extension imports, else asyncore: asyncore warns
    (DeprecationWarning) on Python 3.11 and is gone in 3.12, and the libev extension is not in
    every install. The asyncio reactor is pure Python, runs its own loop in a driver thread
    (it does not touch the test's loop) and raises no warning.
    ``protocol_version=5`` and an explicit load-balancing policy avoid the driver's
    "downgrading protocol" / "no load_balancing_policy" log warnings.
    """
    require_server("cassandra", CASSANDRA_PORT)
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.io.asyncioreactor import AsyncioConnection
    from cassandra.policies import DCAwareRoundRobinPolicy
    from cassandra.query import dict_factory

    keyspace = unique("it_ks").replace("-", "_")
    profile = ExecutionProfile(
        load_balancing_policy=DCAwareRoundRobinPolicy(local_dc="datacenter1"),
        row_factory=dict_factory,
        request_timeout=30,
    )
    cluster = Cluster(
        [HOST],
        port=CASSANDRA_PORT,
        protocol_version=5,
        connection_class=AsyncioConnection,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
    )
    try:
        session = cluster.connect()
        release = session.execute("SELECT release_version FROM system.local").one()[
            "release_version"
        ]
        assert release.startswith("5.0")
        session.execute(
            f"CREATE KEYSPACE {keyspace} WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}"
        )
        try:
            session.set_keyspace(keyspace)
            session.execute(
                "CREATE TABLE messages (conversation_id uuid, seq int, role text, body text, "
                "PRIMARY KEY (conversation_id, seq)) WITH CLUSTERING ORDER BY (seq ASC)"
            )
            insert = session.prepare(
                "INSERT INTO messages (conversation_id, seq, role, body) VALUES (?, ?, ?, ?)"
            )
            conversation = uuid.uuid4()
            rows = [(conversation, 1, "user", "hello"), (conversation, 2, "assistant", "hi there")]
            for row in rows:
                session.execute(insert, row)
            session.execute(insert, (uuid.uuid4(), 1, "user", "another conversation"))

            found = list(
                session.execute(
                    "SELECT conversation_id, seq, role, body FROM messages "
                    "WHERE conversation_id = %s",
                    (conversation,),
                )
            )
            assert [(r["conversation_id"], r["seq"], r["role"], r["body"]) for r in found] == rows
            assert session.execute("SELECT count(*) AS n FROM messages").one()["n"] == 3
        finally:
            session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}")
    finally:
        cluster.shutdown()


# --------------------------------------------------------------------------- Weaviate


@pytest.mark.weaviate
def test_weaviate_multi_tenant_collection_with_supplied_vectors() -> None:
    require_server("weaviate", WEAVIATE_PORT, WEAVIATE_GRPC_PORT)
    import weaviate
    from weaviate.classes.config import Configure, DataType, Property
    from weaviate.classes.data import DataObject
    from weaviate.classes.query import MetadataQuery
    from weaviate.classes.tenants import Tenant

    name = "ItDocs" + uuid.uuid4().hex[:10]  # collection names start with a capital letter
    client = weaviate.connect_to_local(host=HOST, port=WEAVIATE_PORT, grpc_port=WEAVIATE_GRPC_PORT,
                                     skip_init_checks=True)
    try:
        assert client.is_ready()
        docs = client.collections.create(
            name,
            properties=[Property(name="text", data_type=DataType.TEXT)],
            vector_config=Configure.Vectors.self_provided(),  # no vectorizer: vectors supplied
            multi_tenancy_config=Configure.multi_tenancy(enabled=True),
        )
        try:
            docs.tenants.create([Tenant(name="tenant_a"), Tenant(name="tenant_b")])
            assert set(docs.tenants.get()) == {"tenant_a", "tenant_b"}

            tenant_a = docs.with_tenant("tenant_a")
            result = tenant_a.data.insert_many(
                [
                    DataObject(properties={"text": "kafka streams"}, vector=[1.0, 0.0, 0.0]),
                    DataObject(properties={"text": "cassandra rows"}, vector=[0.0, 1.0, 0.0]),
                    DataObject(properties={"text": "weaviate vectors"}, vector=[0.0, 0.0, 1.0]),
                ]
            )
            assert not result.has_errors, result.errors

            hits = tenant_a.query.near_vector(
                near_vector=[0.9, 0.1, 0.0], limit=2, return_metadata=MetadataQuery(distance=True)
            )
            assert [h.properties["text"] for h in hits.objects] == [
                "kafka streams",
                "cassandra rows",
            ]
            assert hits.objects[0].metadata.distance < hits.objects[1].metadata.distance

            tenant_b = docs.with_tenant("tenant_b")
            assert tenant_b.query.near_vector(near_vector=[0.9, 0.1, 0.0], limit=2).objects == []
            assert tenant_b.aggregate.over_all(total_count=True).total_count == 0
            assert tenant_a.aggregate.over_all(total_count=True).total_count == 3
        finally:
            client.collections.delete(name)
    finally:
        client.close()
