"""Expired rows deleted on a schedule, for the SQLite stores: Cassandra drops them by
TTL, SQLite has none, and tables of one-day keys and refresh tokens grow forever
otherwise (their reads already ignore what has expired)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

__all__ = ("PURGE_INTERVAL_S", "PeriodicPurge")

log = logging.getLogger(__name__)

PURGE_INTERVAL_S = 600.0


class PeriodicPurge:
    """Runs ``purge`` once at start and then every ``interval_s`` until stopped."""

    def __init__(self, name: str, purge: Callable[[], Awaitable[int]],
                 interval_s: float = PURGE_INTERVAL_S) -> None:
        self._name = name
        self._purge = purge
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"purge {self._name}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                removed = await self._purge()
            except Exception:  # a busy or closing database: try again next time
                log.warning("purging expired %s failed", self._name, exc_info=True)
            else:
                if removed:
                    log.info("purged %d expired %s", removed, self._name)
            await asyncio.sleep(self._interval_s)
