"""The one-connection-on-one-thread helper under every embedded SQLite store."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kernel.errors import StoreUnavailable
from stores.sqlite_thread import SQLiteThread

SCHEMA = "CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, name TEXT NOT NULL);"


def _helper(path: Path, error_prefix: str = "") -> SQLiteThread:
    return SQLiteThread(path, SCHEMA, name="test store", thread_name="sqlite-test",
                        error_prefix=error_prefix)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[SQLiteThread]:
    helper = _helper(tmp_path / "nested" / "dir" / "test.db")
    await helper.start()
    yield helper
    await helper.close()


async def test_start_makes_the_directory_runs_the_schema_and_the_pragmas(
        db: SQLiteThread) -> None:
    assert db.path.exists()
    await db.run(lambda c: c.execute("INSERT INTO items (name) VALUES ('a')"))
    assert await db.run(lambda c: c.execute("SELECT name FROM items").fetchall()) == [("a",)]
    assert await db.run(lambda c: c.execute("PRAGMA journal_mode").fetchone()) == ("wal",)
    assert await db.run(lambda c: c.execute("PRAGMA synchronous").fetchone()) == (1,)  # NORMAL


async def test_pragmas_and_timeout_are_the_callers(tmp_path: Path) -> None:
    db = SQLiteThread(tmp_path / "t.db", SCHEMA, name="test store", thread_name="sqlite-test",
                      timeout=10.0, pragmas=("journal_mode=WAL", "busy_timeout=5000"))
    await db.start()
    try:
        assert await db.run(lambda c: c.execute("PRAGMA synchronous").fetchone()) == (2,)  # FULL
        assert await db.run(lambda c: c.execute("PRAGMA busy_timeout").fetchone()) == (5000,)
    finally:
        await db.close()


async def test_every_call_runs_on_the_same_named_thread(db: SQLiteThread) -> None:
    def where(_: sqlite3.Connection) -> tuple[int, str]:
        return threading.get_ident(), threading.current_thread().name

    seen = set(await asyncio.gather(*(db.run(where) for _ in range(20))))
    assert len(seen) == 1
    ident, name = seen.pop()
    assert ident != threading.get_ident()
    assert name.startswith("sqlite-test")


async def test_an_operational_error_becomes_store_unavailable(db: SQLiteThread) -> None:
    with pytest.raises(StoreUnavailable, match="no such table") as caught:
        await db.run(lambda c: c.execute("SELECT * FROM missing"))
    assert isinstance(caught.value.__cause__, sqlite3.OperationalError)


async def test_the_error_prefix_names_the_store(tmp_path: Path) -> None:
    db = _helper(tmp_path / "t.db", error_prefix="test store: ")
    await db.start()
    try:
        with pytest.raises(StoreUnavailable, match=r"^test store: no such table"):
            await db.run(lambda c: c.execute("SELECT * FROM missing"))
    finally:
        await db.close()


async def test_other_errors_pass_through_and_roll_back(db: SQLiteThread) -> None:
    def fail(c: sqlite3.Connection) -> None:
        c.execute("INSERT INTO items (name) VALUES ('rolled back')")
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await db.run(fail)
    with pytest.raises(sqlite3.IntegrityError):
        await db.run(lambda c: c.execute("INSERT INTO items (name) VALUES (NULL)"))
    assert await db.run(lambda c: c.execute("SELECT count(*) FROM items").fetchone()) == (0,)


async def test_run_before_start_is_store_unavailable(tmp_path: Path) -> None:
    db = _helper(tmp_path / "t.db")
    try:
        with pytest.raises(StoreUnavailable, match="test store is not open"):
            await db.run(lambda c: c.execute("SELECT 1"))
        assert await db.ready("up") == (False, "test store is not open")
    finally:
        await db.close()


async def test_ready_says_the_label_when_a_query_goes_through(db: SQLiteThread) -> None:
    assert await db.ready("sqlite somewhere") == (True, "sqlite somewhere")


async def test_start_twice_keeps_the_connection(db: SQLiteThread) -> None:
    first = await db.run(lambda c: c)
    await db.start()
    assert await db.run(lambda c: c) is first


async def test_close_is_idempotent_and_later_calls_are_refused(tmp_path: Path) -> None:
    db = _helper(tmp_path / "t.db")
    await db.start()
    await db.close()
    await db.close()
    with pytest.raises(StoreUnavailable, match="test store is not open"):
        await db.run(lambda c: c.execute("SELECT 1"))
    assert await db.ready("up") == (False, "test store is not open")
    with pytest.raises(RuntimeError, match="closed"):
        await db.start()


async def test_close_without_start_is_safe(tmp_path: Path) -> None:
    db = _helper(tmp_path / "never.db")
    await db.close()
    await db.close()
    assert not (tmp_path / "never.db").exists()


async def test_a_failed_start_raises_and_leaves_it_closed(tmp_path: Path) -> None:
    db = SQLiteThread(tmp_path / "t.db", "THIS IS NOT SQL;", name="test store",
                      thread_name="sqlite-test")
    try:
        with pytest.raises(sqlite3.OperationalError):
            await db.start()
        with pytest.raises(StoreUnavailable, match="not open"):
            await db.run(lambda c: c.execute("SELECT 1"))
    finally:
        await db.close()
