"""A streamed response's sends, bounded in time by one watchdog a stream: a stuck send is
given up after its limit (and not much later), a send that completes leaves nothing armed
once the stream closes, and a cancellation that is not the watchdog's stays one."""

from __future__ import annotations

import asyncio

import pytest
from starlette.types import Message

from api.guards.sendwatch import CHECKS_PER_LIMIT, SendWatch


async def _done(message: Message) -> None:
    return None


async def test_a_send_that_never_completes_is_given_up_within_its_bound() -> None:
    # A limit of a second, so a loaded machine's late timer (tenths of a second) stays
    # inside the slack while a watchdog giving up at twice the limit would not.
    watch = SendWatch(1.0)
    stuck = asyncio.Event()

    async def never(message: Message) -> None:
        await stuck.wait()  # the reader's window is full, for good

    assert await watch.sent(_done, {"type": "http.response.body"})
    loop = asyncio.get_running_loop()
    began = loop.time()
    assert not await asyncio.wait_for(watch.sent(never, {"type": "http.response.body"}), 5)
    waited = loop.time() - began
    assert 1.0 <= waited <= 1.0 * (1 + 1 / CHECKS_PER_LIMIT) + 0.5
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]
    watch.close()


async def test_sends_that_complete_are_never_cut_and_leave_no_timer() -> None:
    watch = SendWatch(1.0)

    async def slowish(message: Message) -> None:
        await asyncio.sleep(0.05)  # each far under the limit, twice the limit in all

    for _ in range(40):
        assert await watch.sent(slowish, {"type": "http.response.body"})
    watch.close()
    assert watch._handle is None


async def test_a_cancellation_from_elsewhere_is_not_turned_into_a_time_out() -> None:
    watch = SendWatch(10.0)
    entered = asyncio.Event()

    async def waits(message: Message) -> None:
        entered.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(watch.sent(waits, {"type": "http.response.body"}))
    await entered.wait()
    task.cancel()  # the client left: the edge cancels its writer
    with pytest.raises(asyncio.CancelledError):
        await task
    watch.close()


async def test_a_closed_watch_arms_nothing_again() -> None:
    watch = SendWatch(0.05)
    assert await watch.sent(_done, {"type": "http.response.body"})
    watch.close()
    assert await watch.sent(_done, {"type": "http.response.body"})  # a straggler
    assert watch._handle is None
