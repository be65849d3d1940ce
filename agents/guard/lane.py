"""Encoder reads queued per tenant and served in turn, one read at a time.

A read costs tens of milliseconds of CPU for a sentence and up to ~1.8 s for a window of
emoji or CJK (:data:`agents.guard.encoder.TOKENS`), and a process has one engine, behind
one lock: taken as they come, one tenant's requests full of such texts held every other
tenant's message behind all of their reads. Here each read is a unit of a
:class:`~agents.embedders.fair.FairLane` (cost one read), so a tenant waits at most for the
read in progress, whatever another tenant has queued.

The guard stays synchronous (training and ``bench.guard`` call it directly): the stage runs
it in a thread, and :meth:`Queued.read` hands each read to the lane on the stage's event
loop and waits for it there.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from agents.embedders.fair import FairLane
from agents.guard.encoder import Encode

__all__ = ("Queued",)

_POLL_S = 1.0
"""How often a waiting read looks whether its loop still runs (a worker stopping mid-read
must not leave the guard's thread waiting for ever)."""

_lanes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Encode, FairLane]] = (
    weakref.WeakKeyDictionary())
_made = threading.Lock()  # reads of several threads may find a loop without its lane


def _one(_: str) -> int:
    return 1


def _failed(exc: Exception) -> Exception:
    return exc


def _lane(loop: asyncio.AbstractEventLoop, encode: Encode) -> FairLane:
    def work(texts: list[str]) -> Sequence[list[float]]:
        return [encode(text).tolist() for text in texts]

    with _made:
        lanes = _lanes.setdefault(loop, {})
        if encode not in lanes:
            lanes[encode] = FairLane("guard-encoder", work, _failed, unit=1, cost=_one)
        return lanes[encode]


@dataclass(frozen=True)
class Queued:
    """Reads on behalf of ``tenant``, through the lane of ``loop``."""

    tenant: str
    loop: asyncio.AbstractEventLoop

    @classmethod
    def here(cls, tenant: str) -> Queued:
        """For ``tenant``, through the running loop's lane."""
        return cls(tenant, asyncio.get_running_loop())

    def read(self, encode: Encode, text: str) -> npt.NDArray[np.float32]:
        """``encode(text)`` in the tenant's turn; called from a thread, never the loop's."""
        lane = _lane(self.loop, encode)
        waiting = asyncio.run_coroutine_threadsafe(lane.submit(self.tenant, [text]), self.loop)
        while True:
            try:
                rows = waiting.result(timeout=_POLL_S)
            except TimeoutError:
                if self.loop.is_closed() or not self.loop.is_running():
                    waiting.cancel()
                    raise RuntimeError("the guard's event loop stopped during a read") from None
                continue
            return np.asarray(rows[0], dtype=np.float32)
