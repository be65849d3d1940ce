"""What a test stack leaves on the shared servers goes with it: its topics and keyspace.

Left behind, thousands of partitions slow every later broker restart."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

from aiokafka.admin import AIOKafkaAdminClient

from harness.servers import KAFKA

__all__ = ("drop_keyspace", "drop_together", "drop_topics")


async def _drop_topics(prefix: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
    await admin.start()
    try:
        mine = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()


def drop_topics(prefix: str) -> None:
    """Delete every topic named with ``prefix`` (the stack's CHATSTREAM_TOPIC_PREFIX)."""
    if not prefix:
        return  # never the unprefixed production names

    def run() -> None:
        with contextlib.suppress(Exception):
            asyncio.run(_drop_topics(prefix))

    # Its own thread and loop: callers may be inside a running loop (async tests).
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(60)


def drop_keyspace(store_url: str) -> None:
    if not store_url.startswith("cassandra://"):
        return
    from cassandra.cluster import Cluster

    from stores.cassandra import default_connection_class

    url = urlparse(store_url)
    keyspace = url.path.strip("/")
    cluster = Cluster([url.hostname or "127.0.0.1"], port=url.port or 9042,
                      protocol_version=5, connection_class=default_connection_class())
    with contextlib.suppress(Exception):
        session = cluster.connect()
        session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=60)
    cluster.shutdown()


def drop_together(*drops: Callable[[], None]) -> None:
    """Run ``drops`` (each waits on a different server) at once; the first error is
    raised once all have finished."""
    with ThreadPoolExecutor(len(drops) or 1) as pool:
        for done in [pool.submit(d) for d in drops]:
            done.result()
