"""The embedder's queue serves tenants in turn, in units (agents/embedders/fair.py)."""

from __future__ import annotations

import asyncio

from agents.embedders.fair import FairQueue, Request


def _request(n: int, loop: asyncio.AbstractEventLoop) -> Request:
    return Request([f"t{i}" for i in range(n)], loop.create_future())


def _tenants(queue: FairQueue, owners: dict[int, str], size: int = 4) -> list[str]:
    return [owners[id(p.request)] for p in queue.unit(size) for _ in p.texts]


async def test_a_newcomer_waits_one_unit_whatever_is_queued() -> None:
    loop = asyncio.get_running_loop()
    queue = FairQueue()
    big, small = _request(100, loop), _request(1, loop)
    owners = {id(big): "a", id(small): "b"}
    queue.put("a", big)
    assert _tenants(queue, owners) == ["a"] * 4  # alone: a has every unit
    queue.put("b", small)
    assert _tenants(queue, owners) == ["b", "a", "a", "a"]  # b first, a fills the rest
    assert _tenants(queue, owners) == ["a"] * 4


async def test_a_tenant_asking_again_while_its_unit_runs_goes_after_a_newcomer() -> None:
    """Its queue emptied when its unit was taken: it is still not new."""
    loop = asyncio.get_running_loop()
    queue = FairQueue()
    first, again, other = _request(1, loop), _request(3, loop), _request(1, loop)
    owners = {id(first): "a", id(again): "a", id(other): "b"}
    queue.put("a", first)
    assert _tenants(queue, owners, 1) == ["a"]  # running; a waits for nothing more
    queue.put("a", again)
    queue.put("b", other)
    assert _tenants(queue, owners, 1) == ["b"]
    assert _tenants(queue, owners, 1) == ["a"]


async def test_two_busy_tenants_alternate_and_each_keeps_its_order() -> None:
    loop = asyncio.get_running_loop()
    queue = FairQueue()
    a1, a2, c = _request(3, loop), _request(5, loop), _request(8, loop)
    owners = {id(a1): "a", id(a2): "a", id(c): "c"}
    queue.put("a", a1)
    queue.put("a", a2)
    queue.put("c", c)
    first = queue.unit(4)
    assert [(owners[id(p.request)], p.start, p.end) for p in first] == [
        ("a", 0, 3), ("a", 0, 1)]
    second = queue.unit(4)
    assert [(owners[id(p.request)], p.start, p.end) for p in second] == [("c", 0, 4)]
    third = queue.unit(4)
    assert [(owners[id(p.request)], p.start, p.end) for p in third] == [("a", 1, 5)]


async def test_a_cancelled_callers_texts_are_skipped() -> None:
    loop = asyncio.get_running_loop()
    queue = FairQueue()
    gone, kept = _request(10, loop), _request(2, loop)
    queue.put("a", gone)
    queue.put("a", kept)
    gone.future.cancel()
    assert [p.request for p in queue.unit(4)] == [kept]
    assert not queue


async def test_units_are_weighed_and_hold_at_least_one_text() -> None:
    loop = asyncio.get_running_loop()
    queue = FairQueue(cost=len)
    heavy, light = Request(["x" * 10, "y" * 3], loop.create_future()), \
        Request(["ab", "cd", "ef"], loop.create_future())
    queue.put("a", heavy)
    queue.put("b", light)
    assert [p.texts for p in queue.unit(5)] == [["x" * 10]]  # heavier than a unit: alone
    assert [p.texts for p in queue.unit(5)] == [["ab", "cd"]]  # b's turn
    assert [p.texts for p in queue.unit(5)] == [["y" * 3], ["ef"]]  # a's, b fills the room
    assert not queue
