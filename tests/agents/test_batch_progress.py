"""The batch feeder's view of the status topic stays within its bounds."""

from __future__ import annotations

import pytest

from agents import batches
from schemas.events import BatchCancelled, BatchItemCompleted, MessageReceived, Usage


def _done(batch: str, index: int) -> BatchItemCompleted:
    return BatchItemCompleted(tenant_id="t", batch_id=batch, index=index,
                              request_id=batches.request_id(batch, index), text="a",
                              model="local", usage=Usage(), finish_reason="stop")


async def test_answered_prompts_and_cancels_are_bounded_newest_kept(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batches, "_MAX_DONE", 50)
    monkeypatch.setattr(batches, "_MAX_CANCELLED", 5)
    progress = batches._Progress()
    for b in range(20):
        for i in range(10):
            await progress.on_status(_done(f"b{b}", i))
        await progress.on_status(BatchCancelled(tenant_id="t", batch_id=f"b{b}", user_id="u"))
    assert progress.answered_count == sum(len(s) for s in progress.answered.values()) <= 50
    assert progress.done("b19", 9) and not progress.done("b0", 0)
    assert list(progress.cancelled) == [f"b{b}" for b in range(15, 20)]


async def test_requests_whose_answer_never_came_are_forgotten(
        monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(batches.time, "monotonic", lambda: clock[0])
    progress = batches._Progress()
    for n in range(100):
        clock[0] += 10
        await progress.on_request(MessageReceived(
            tenant_id="t", request_id=f"r{n}", message_id=f"m{n}", conversation_id="c",
            user_id="u", text="hi", model="local"))
    assert len(progress.interactive) <= batches._ANSWER_WAIT_S / 10 + 2


async def test_a_failed_interactive_answer_holds_batches_back_a_minute_at_most(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed answer sends nothing to chat.responses.v1 (its end is on the token topic):
    the feeder defers to it a minute at most, not for the five minutes a batch prompt is
    waited for, which left each batch at one prompt per 5 s after any upstream error."""
    clock = [1000.0]
    monkeypatch.setattr(batches.time, "monotonic", lambda: clock[0])
    progress = batches._Progress()
    await progress.on_request(MessageReceived(
        tenant_id="t", request_id="failed", message_id="m", conversation_id="c",
        user_id="u", text="hi", model="local"))
    clock[0] += 30
    assert progress.interactive_busy()
    clock[0] += 31
    assert not progress.interactive_busy()
