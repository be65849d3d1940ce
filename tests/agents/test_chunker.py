"""Token chunks are cut at a size or an age, whichever comes first."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from agents.inference.chunker import coalesce
from agents.providers.base import Delta, ToolCallDelta
from schemas.events import Usage


async def _deltas(parts: list[str], pause_after: int | None = None,
                  pause_s: float = 0.0) -> AsyncIterator[Delta]:
    for i, p in enumerate(parts):
        if pause_after is not None and i == pause_after:
            await asyncio.sleep(pause_s)
        yield Delta(text=p)
    yield Delta(usage=Usage(completion_tokens=len(parts)), finish_reason="stop")


async def test_first_text_goes_out_at_once_then_size_bound_cuts() -> None:
    chunks = [c async for c in coalesce(_deltas(["ab"] * 10), max_ms=10_000, max_chars=6)]
    texts = [c.text for c in chunks if c.final is None]
    assert texts == ["ab", "ababab", "ababab", "ababab"]
    assert chunks[-1].final is not None and chunks[-1].final.usage is not None


async def test_age_bound_flushes_a_stalled_model() -> None:
    got: list[tuple[float, str]] = []
    start = time.monotonic()
    async for c in coalesce(_deltas(["a", "b", "c", "d"], pause_after=3, pause_s=0.5),
                            max_ms=50, max_chars=1000):
        got.append((time.monotonic() - start, c.text))
    # "a" goes at once; "bc" must not wait for the model's pause to end.
    assert [t for _, t in got[:3]] == ["a", "bc", "d"]
    assert got[1][0] < 0.3


async def test_provider_error_flushes_then_raises() -> None:
    async def broken() -> AsyncIterator[Delta]:
        yield Delta(text="partial ")
        raise RuntimeError("upstream cut")

    seen: list[str] = []

    async def drain() -> None:
        async for c in coalesce(broken(), max_ms=10_000, max_chars=1000):
            seen.append(c.text)

    with pytest.raises(RuntimeError, match="upstream cut"):
        await drain()
    assert seen == ["partial "]


async def test_tool_call_pieces_are_coalesced_per_call_in_order() -> None:
    async def source() -> AsyncIterator[Delta]:
        yield Delta(text="Let me check. ")
        yield Delta(tool_call=ToolCallDelta(0, id="a", name="get_weather", arguments='{"ci'))
        yield Delta(tool_call=ToolCallDelta(0, arguments='ty": '))
        yield Delta(tool_call=ToolCallDelta(0, arguments='"Oslo"}'))
        yield Delta(tool_call=ToolCallDelta(1, id="b", name="get_time", arguments="{}"))
        yield Delta(finish_reason="tool_calls")

    chunks = [c async for c in coalesce(source(), max_ms=1000, max_chars=1000)]
    calls = [c.tool_call for c in chunks if c.tool_call is not None]
    assert chunks[0].text == "Let me check. "
    # The text went out at once (the first piece); call 0's pieces were merged into one,
    # which call 1 flushed.
    assert [(c.index, c.id, c.name, c.arguments) for c in calls] == [
        (0, "a", "get_weather", '{"city": "Oslo"}'), (1, "b", "get_time", "{}")]
    assert chunks[-1].final is not None and chunks[-1].final.finish_reason == "tool_calls"
