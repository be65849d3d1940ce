"""Waiting in a test for something that happens elsewhere (another task, thread or
process): the one polling loop of the suite."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

__all__ = ("until",)


async def until(condition: Callable[[], bool | Awaitable[bool]], timeout: float = 10.0, *,
                what: str = "condition", every: float = 0.01) -> None:
    """Return once ``condition()`` (a plain or async function) is true; fail the test
    after ``timeout`` seconds, naming ``what`` was awaited."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        met = condition()
        if inspect.isawaitable(met):
            met = await met
        if met:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} not met in {timeout:g} s")
        await asyncio.sleep(every)
