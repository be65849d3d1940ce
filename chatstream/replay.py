"""``chatstream replay``: re-publish dead letters, or a range of a topic, after a fix.

Dead letters are read by their own consumer group, so each is replayed once however
often the command runs; a range is re-published as it is (the stages' sinks are
idempotent, so replaying what was already handled is safe).
"""

from __future__ import annotations

from datetime import datetime

from kernel.errors import ConfigurationError, PoisonEvent
from kernel.settings import Settings
from schemas.events import DeadLettered
from schemas.stages import group_name
from schemas.topics import ALL_TOPICS, DLQ
from streams.codec import decode
from streams.runtime.kafka import clients

__all__ = ("replay_dead_letters", "replay_range")


def _kafka(settings: Settings) -> str:
    if not settings.broker.startswith("kafka://"):
        raise ConfigurationError("replay works on Kafka: set --broker kafka://host:port "
                                 "(the embedded log lives inside its own process)")
    return settings.kafka_bootstrap


async def replay_dead_letters(settings: Settings, *, stage: str | None, dry_run: bool,
                              idle_ms: int = 3000) -> int:
    bootstrap = _kafka(settings)
    consumer = clients.reader(bootstrap, settings.topic(DLQ.name),
                              group_id=group_name("replay", settings.topic_prefix),
                              auto_offset_reset="earliest")
    producer = clients.producer(bootstrap)
    await consumer.start()
    await producer.start()
    count = 0
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=idle_ms)
            if not batch:
                break
            for records in batch.values():
                for r in records:
                    try:
                        letter: DeadLettered = decode(DLQ, r.value)
                    except PoisonEvent as exc:
                        print(f"skipping {r.topic}@{r.partition}:{r.offset}: {exc}")
                        continue
                    if stage and letter.stage != stage:
                        continue
                    print(f"{'would replay' if dry_run else 'replaying'} "
                          f"{letter.topic}@{letter.partition}:{letter.offset} "
                          f"({letter.stage}: {letter.error_type})")
                    if not dry_run:
                        await producer.send_and_wait(
                            letter.topic, letter.original.encode(),
                            key=letter.key.encode() if letter.key is not None else None)
                    count += 1
            if not dry_run:
                await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()
    return count


async def replay_range(settings: Settings, topic: str, *, since: datetime,
                       until: datetime | None, dry_run: bool) -> int:
    bootstrap = _kafka(settings)
    if topic not in {t.name for t in ALL_TOPICS}:
        raise ConfigurationError(f"unknown topic {topic}")
    name = settings.topic(topic)
    consumer = clients.reader(bootstrap)
    producer = clients.producer(bootstrap)
    await consumer.start()
    await producer.start()
    count = 0
    try:
        tps = await clients.partitions(consumer, name)
        if not tps:
            raise ConfigurationError(f"topic {name} does not exist")
        consumer.assign(tps)
        _, left = await clients.seek_to_time(consumer, tps, int(since.timestamp() * 1000))
        stop_ms = int(until.timestamp() * 1000) if until else None
        async for r in clients.read_to_end(consumer, left):
            if stop_ms is not None and r.timestamp > stop_ms:
                continue
            if not dry_run:
                await producer.send_and_wait(name, r.value, key=r.key,
                                             headers=list(r.headers or ()))
            count += 1
    finally:
        await consumer.stop()
        await producer.stop()
    print(f"{'would replay' if dry_run else 'replayed'} {count} records of {name}")
    return count
