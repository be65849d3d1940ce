"""The bounded map of what a process remembers of a store: one load per key per TTL,
misses remembered too, forgotten on demand."""

from __future__ import annotations

import asyncio

from kernel.recent import Recent


async def test_a_key_is_loaded_once_per_ttl_and_a_miss_is_remembered() -> None:
    loads: list[str] = []
    recent: Recent[str, int | None] = Recent(ttl_s=0.1)

    async def load(key: str) -> int | None:
        loads.append(key)
        return None if key == "missing" else len(key)

    for _ in range(5):
        assert await recent.get("abc", lambda: load("abc")) == 3
        assert await recent.get("missing", lambda: load("missing")) is None
    assert loads == ["abc", "missing"]
    recent.forget("abc")
    await recent.get("abc", lambda: load("abc"))
    await asyncio.sleep(0.15)
    await recent.get("missing", lambda: load("missing"))
    assert loads == ["abc", "missing", "abc", "missing"]
