"""Texts waiting for a CPU-bound model, queued per tenant and served in turn.

A model serves every caller of a process (retrieval's questions, ingestion's passages,
``/v1/embeddings``). Served first come, first served, one tenant's 256 texts held
everyone else's one-text question behind all of them (an answer 0.43 s → 12.6 s). Here
work goes to the model in units of a few texts (:class:`FairLane`, one thread): each unit
starts with the tenant that was served least recently (a tenant newly waiting first of
all), and fills what room is left from the others, so a tenant waits at most for the unit
running when it asked, whatever others have queued; alone, a tenant still gets every
unit.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

__all__ = ("FairLane", "FairQueue", "Piece", "Request")


@dataclass(eq=False)
class Request:
    """One caller's texts; its future gets one vector per text, in order."""

    texts: list[str]
    future: asyncio.Future[list[list[float]]]
    rows: list[list[float]] = field(default_factory=list)
    taken: int = 0  # texts handed to a unit so far

    @property
    def gone(self) -> bool:
        return self.future.done()  # its caller was cancelled (or it already failed)


@dataclass(frozen=True, slots=True)
class Piece:
    """The texts ``start:end`` of a request, in one unit."""

    request: Request
    start: int
    end: int

    @property
    def texts(self) -> list[str]:
        return self.request.texts[self.start:self.end]


class FairQueue:
    """``cost``: what one text weighs in a unit (1 each by default); a unit holds at
    least one text, however heavy."""

    def __init__(self, cost: Callable[[str], int] = lambda _: 1) -> None:
        self._cost = cost
        self._waiting: dict[str, deque[Request]] = {}
        self._last_served: dict[str, int] = {}
        self._turns = itertools.count(1)
        self._turn = 0  # the last unit's

    def __bool__(self) -> bool:
        return any(not r.gone for queue in self._waiting.values() for r in queue)

    def put(self, tenant: str, request: Request) -> None:
        self._waiting.setdefault(tenant, deque()).append(request)

    def _forget(self) -> None:
        """Drops the turns of tenants no longer waiting that were served before every
        tenant waiting and before the last unit: back, they start first in turn, as they
        would have anyway. A tenant served in the last unit (maybe still running) is
        remembered, so asking again at once it goes after a tenant newly waiting."""
        floor = min((self._last_served.get(t, 0) for t in self._waiting), default=self._turn)
        floor = min(floor, self._turn)
        for tenant in [t for t, turn in self._last_served.items()
                       if turn < floor and t not in self._waiting]:
            del self._last_served[tenant]

    def unit(self, size: int) -> list[Piece]:
        """Texts weighing up to ``size``: from the tenant whose turn it is, then from the
        others (least recently served first) while room is left."""
        self._forget()
        order = sorted(self._waiting, key=lambda t: self._last_served.get(t, 0))
        turn = self._turn = next(self._turns)
        pieces: list[Piece] = []
        room = size
        for tenant in order:
            queue = self._waiting[tenant]
            while queue and room > 0:
                request = queue[0]
                if request.gone:
                    queue.popleft()
                    continue
                start = end = request.taken
                while end < len(request.texts):
                    weight = self._cost(request.texts[end])
                    if weight > room and (pieces or end > start):
                        break
                    room -= weight
                    end += 1
                if end == start:
                    room = 0
                    break
                pieces.append(Piece(request, start, end))
                self._last_served[tenant] = turn
                request.taken = end
                if end == len(request.texts):
                    queue.popleft()
            if not queue:
                del self._waiting[tenant]
            if room <= 0:
                break
        return pieces


class FairLane:
    """One thread doing ``work`` (texts in, one vector per text out) on units of
    ``unit`` weight, taken from a :class:`FairQueue`. ``failed`` says what a caller hears
    when ``work`` raises."""

    def __init__(self, name: str, work: Callable[[list[str]], Sequence[list[float]]],
                 failed: Callable[[Exception], Exception], *, unit: int,
                 cost: Callable[[str], int]) -> None:
        self._work = work
        self._failed = failed
        self._unit = unit
        self._queue = FairQueue(cost)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._draining: asyncio.Task[None] | None = None

    async def submit(self, tenant: str, texts: list[str]) -> list[list[float]]:
        loop = asyncio.get_running_loop()
        request = Request(texts, loop.create_future())
        self._queue.put(tenant, request)
        if self._draining is None or self._draining.done():
            self._draining = loop.create_task(self._drain())
        return await request.future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            pieces = self._queue.unit(self._unit)
            texts = [t for piece in pieces for t in piece.texts]
            if not texts:
                continue
            try:
                rows = await loop.run_in_executor(self._executor, self._work, texts)
            except Exception as exc:  # the model's own errors: every caller hears of it
                error = self._failed(exc)
                for piece in pieces:
                    if not piece.request.gone:
                        piece.request.future.set_exception(error)
                continue
            start = 0
            for piece in pieces:
                request, n = piece.request, piece.end - piece.start
                request.rows.extend(rows[start:start + n])
                start += n
                if not request.gone and len(request.rows) == len(request.texts):
                    request.future.set_result(request.rows)

    async def close(self) -> None:
        if self._draining is not None and not self._draining.done():
            self._draining.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._draining
        self._executor.shutdown(wait=False, cancel_futures=True)
