"""A message sent the moment the edge says it is listening is answered (the relay must
be positioned on the log before the edge accepts anything)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.chat import ask, new_conversation
from tests.support.stacks import start_stack


@pytest.mark.parametrize("kind", ["embedded", "kafka"])
async def test_first_message_after_start_is_answered(kind: str, tmp_path: Path) -> None:
    stack = start_stack(kind, tmp_path)
    try:
        async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
            cid = await new_conversation(client)
            answer = await ask(client, cid, "The spare key is under the blue flowerpot.")
            assert answer.last.event == "done", stack.logs()
            assert "flowerpot" in answer.text
    finally:
        stack.stop()
