"""One SQLite connection owned by one worker thread, shared by the embedded stores.

sqlite3 objects belong to the thread that made them (``check_same_thread``), and every
call on them blocks. So each embedded store opens its connection on a single worker
thread of its own and sends all its work there, awaited from the event loop; with one
thread per connection its transactions also run one at a time. The conversation,
document, account, idempotency and vector stores all use this class for that.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from kernel.errors import StoreUnavailable

__all__ = ("DEFAULT_PRAGMAS", "SQLiteThread")

T = TypeVar("T")

DEFAULT_PRAGMAS = ("journal_mode=WAL", "synchronous=NORMAL")


class SQLiteThread:
    """One connection to ``path`` on a thread named ``thread_name``.

    ``start`` opens it (making the parent directory, running ``PRAGMA`` for each of
    ``pragmas`` in order, then the ``schema`` script) and does nothing when it is open
    already. ``run(fn)`` calls ``fn(connection)`` on the thread inside one transaction
    (``with connection:`` commits, or rolls back on an exception); an
    ``sqlite3.OperationalError`` (locked, disk I/O, ...) comes back as
    ``StoreUnavailable``, prefixed by ``error_prefix``, and so does a call before
    ``start`` or after ``close``. ``close`` may be called more than once.
    """

    def __init__(self, path: Path, schema: str, *, name: str, thread_name: str,
                 timeout: float = 5.0, pragmas: Sequence[str] = DEFAULT_PRAGMAS,
                 error_prefix: str = "") -> None:
        self._path = path
        self._schema = schema
        self._name = name
        self._timeout = timeout
        self._pragmas = tuple(pragmas)
        self._error_prefix = error_prefix
        self._conn: sqlite3.Connection | None = None
        self._closed = False
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=thread_name)

    @property
    def path(self) -> Path:
        return self._path

    async def start(self) -> None:
        if self._closed:
            raise RuntimeError(f"{self._name} is closed")
        if self._conn is None:
            await asyncio.get_running_loop().run_in_executor(self._pool, self._open)

    def _open(self) -> None:
        if self._conn is not None:  # two starts raced: the first one opened it
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self._path, timeout=self._timeout, check_same_thread=True)
        try:
            for pragma in self._pragmas:
                conn.execute(f"PRAGMA {pragma}")
            conn.executescript(self._schema)
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await asyncio.get_running_loop().run_in_executor(self._pool, self._close)
        finally:
            self._pool.shutdown(wait=True)

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            if self._conn is None:
                raise StoreUnavailable(f"{self._name} is not open")
            with self._conn:
                return fn(self._conn)
        if self._closed:
            raise StoreUnavailable(f"{self._name} is not open")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, call)
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"{self._error_prefix}{exc}") from exc

    async def ready(self, label: str) -> tuple[bool, str]:
        """``(True, label)`` when a ``SELECT 1`` goes through, else ``(False, why)``."""
        try:
            await self.run(lambda db: db.execute("SELECT 1").fetchone())
        except StoreUnavailable as exc:
            return False, str(exc)
        return True, label
