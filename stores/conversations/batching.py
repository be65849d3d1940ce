"""Writes to one Cassandra partition coalesced into UNLOGGED batches.

While a write to a partition is on its way, further writes to the same partition wait
and then go together as one batch: Cassandra applies a single-partition batch as one
mutation (atomic, no batch log), and the client makes one round trip instead of many.
An idle partition's write goes on the loop's next turn (with whatever else was written
to it in the same turn): no added latency when there is no load.
Only statements that may be replayed are coalesced (the batch is retried as a whole).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any

from cassandra.query import BatchStatement, BatchType

__all__ = ("PartitionBatcher",)

Execute = Callable[[Any, Sequence[Any] | None], Awaitable[list[dict[str, Any]]]]

# A batch that grows too large is refused by Cassandra (batch_size_fail_threshold,
# 50 KiB by default, counted on the mutation); long texts go in smaller batches.
_MAX_ITEMS = 32
_MAX_BYTES = 40 * 1024

_Item = tuple[Any, Sequence[Any], "asyncio.Future[None]"]


class PartitionBatcher:
    def __init__(self, execute: Execute, *, enabled: bool = True) -> None:
        self._execute = execute
        self._enabled = enabled  # off: each write on its own (the benchmark's baseline)
        self._queues: dict[Hashable, list[_Item]] = {}

    async def write(self, partition: Hashable, statement: Any, params: Sequence[Any]) -> None:
        """Apply ``statement`` with ``params``; ``partition`` names the partition it writes
        (table and partition key), which every statement given the same name must share."""
        if not self._enabled:
            await self._execute(statement, params)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._queues.get(partition)
        if queue is not None:  # a flush is running for this partition: ride the next one
            queue.append((statement, params, future))
        else:
            self._queues[partition] = [(statement, params, future)]
            asyncio.get_running_loop().create_task(self._flush(partition))
        await future

    async def _flush(self, partition: Hashable) -> None:
        queue = self._queues[partition]
        try:
            while queue:
                taken = _take(queue)
                del queue[:len(taken)]
                try:
                    if len(taken) == 1:
                        statement, params, _ = taken[0]
                        await self._execute(statement, params)
                    else:
                        batch = BatchStatement(batch_type=BatchType.UNLOGGED)
                        for statement, params, _ in taken:
                            batch.add(statement, params)
                        batch.is_idempotent = True
                        await self._execute(batch, None)
                except BaseException as exc:  # every writer of the batch gets the failure
                    for _, _, future in taken:
                        if not future.done():
                            future.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
                else:
                    for _, _, future in taken:
                        if not future.done():
                            future.set_result(None)
        finally:
            del self._queues[partition]
            for _, _, future in queue:  # cancelled mid-way: nothing left waits forever
                if not future.done():
                    future.set_exception(asyncio.CancelledError())


def _take(queue: list[_Item]) -> list[_Item]:
    taken: list[_Item] = []
    size = 0
    for item in queue[:_MAX_ITEMS]:
        weight = sum(len(p) for p in item[1] if isinstance(p, str))
        if taken and size + weight > _MAX_BYTES:
            break
        taken.append(item)
        size += weight
    return taken
