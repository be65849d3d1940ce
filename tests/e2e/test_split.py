"""The Kafka deployment shape: the edge and each stage in its own process."""

from __future__ import annotations

import httpx

from tests.e2e.chat import ask, new_conversation, wait_for_messages
from tests.e2e.conftest import Stack


async def test_each_stage_in_its_own_process_answers_and_stores(split_stack: Stack) -> None:
    assert len(split_stack.processes) == 5
    async with httpx.AsyncClient(base_url=split_stack.url, timeout=30) as client:
        cid = await new_conversation(client)
        first = await ask(client, cid, "Our office plant is called Fernando.")
        assert first.last.event == "done", split_stack.logs()
        await wait_for_messages(client, cid, 2)
        second = await ask(client, cid, "What is our office plant called?")
        assert second.last.event == "done"
        assert "Fernando" in second.text
        stored = await wait_for_messages(client, cid, 4, scored=True)
        assert [m["text"] for m in stored[1::2]] == [first.text, second.text]
        assert all(m["scores"] for m in stored if m["role"] == "assistant")
