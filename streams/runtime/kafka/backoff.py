"""Back off between failed Kafka metadata refreshes.

aiokafka (0.14) refreshes metadata from one background task that retries as soon as
anyone asks again. While the broker is down, every producer with pending batches and
every fetcher asks again the moment the previous refresh failed, and a refused
connection fails at once: the task spins (docs/reliability.md has what that cost).
Sleeping the client's own ``retry_backoff_ms`` after a failed refresh makes it a few
attempts a second per client, and reconnects as soon as the broker is back.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka.client import AIOKafkaClient

__all__ = ("install",)

_PATCHED = "_chatstream_backoff"


def install() -> None:
    """Patch ``AIOKafkaClient._metadata_update`` once per process (idempotent)."""
    if getattr(AIOKafkaClient, _PATCHED, False):
        return
    original = AIOKafkaClient._metadata_update

    async def metadata_update(self: AIOKafkaClient, cluster_metadata: Any,
                              topics: Any) -> bool:
        updated: bool = await original(self, cluster_metadata, topics)
        if not updated:
            await asyncio.sleep(self._retry_backoff)
        return updated

    AIOKafkaClient._metadata_update = metadata_update
    setattr(AIOKafkaClient, _PATCHED, True)
