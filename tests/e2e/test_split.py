"""The Kafka deployment shape: the edge and the workers, each a role in a process of its
own (one of them two stages in one app: scoring and persistence)."""

from __future__ import annotations

import httpx

from schemas.stages import role_stages
from tests.e2e.chat import ask, new_conversation, wait_for_messages
from tests.support.stacks import SPLIT_ROLES, STAGES, Stack


async def test_the_roles_in_their_own_processes_answer_and_store(split_stack: Stack) -> None:
    assert len(split_stack.processes) == len(SPLIT_ROLES) + 1
    assert sorted(s for r in SPLIT_ROLES for s in role_stages(r)) == sorted(STAGES)
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


async def test_the_ingestion_worker_reads_what_the_edge_stored(split_stack: Stack) -> None:
    """The upload's bytes travel through the store (Cassandra), not a shared disk."""
    from tests.e2e.test_knowledge import cited, upload, wait_until_indexed

    async with httpx.AsyncClient(base_url=split_stack.url, timeout=30) as client:
        r = await upload(client, "plants.md", b"# Plants\n\nFernando the fern is watered "
                         b"on Mondays with rain water.\n", "text/markdown")
        assert r.status_code == 202, r.text
        doc = r.json()
        indexed = await wait_until_indexed(client, doc["id"])
        assert indexed["status"] == "ready", (indexed, split_stack.logs())
        answer = await ask(client, await new_conversation(client),
                           "When is Fernando the fern watered?")
        assert "Mondays" in answer.text
        assert [c["document_id"] for c in cited(answer)] == [doc["id"]]
        assert (await client.delete(f"/v1/documents/{doc['id']}")).status_code == 204
