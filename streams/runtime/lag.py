"""Consumer lag per stage and partition: the records of each stage's input partitions
that its consumer group has not committed yet.

A :class:`LagSource` per log (streams/runtime/kafka/lag.py; the embedded log's
committed offsets against its lengths). Every process measures the lag of every stage
(a few cheap requests), so a stopped stage's lag still shows: on the edge, and in
``chatstream status``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from aiokafka.errors import KafkaError

from kernel.telemetry.metrics import CONSUMER_LAG

__all__ = ("LagSource", "Offsets", "lag_monitor")

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Offsets:
    stage: str
    topic: str
    partition: int
    committed: int
    end: int

    @property
    def lag(self) -> int:
        return max(0, self.end - self.committed)


class LagSource(Protocol):
    async def offsets(self, stages: Sequence[str]) -> list[Offsets]: ...


def publish(offsets: Iterable[Offsets]) -> None:
    for o in offsets:
        CONSUMER_LAG.labels(o.stage, o.topic, str(o.partition)).set(o.lag)


async def lag_monitor(source: LagSource, stages: Sequence[str], interval_s: float) -> None:
    """Refresh the consumer lag gauge every ``interval_s`` until cancelled."""
    while True:
        try:
            publish(await source.offsets(stages))
        except (KafkaError, OSError, TimeoutError) as exc:
            log.warning("consumer lag unavailable: %s: %s", type(exc).__name__, exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.sleep(interval_s)
