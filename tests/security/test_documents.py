"""#17.10 documents: owner or admin deletes; a conversation's documents are its owner's;
a store outage during an ownership check is 503, never an unchecked accept."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import httpx

from tests.security.support import Edge, start_dev_edge


async def _upload(c: httpx.AsyncClient, text: str, **form: str) -> dict[str, str]:
    r = await c.post("/v1/documents", data=form,
                     files={"file": ("notes.txt", text.encode(), "text/plain")})
    assert r.status_code == 202, r.text
    doc: dict[str, str] = r.json()
    return doc


async def test_a_member_cannot_delete_a_colleagues_document(jwt_edge: Edge) -> None:
    await jwt_edge.login("owner@acme.io")
    member = f"m-{uuid.uuid4().hex[:6]}@acme.io"
    await jwt_edge.member(member)
    async with jwt_edge.client("owner@acme.io") as owner, jwt_edge.client(member) as m:
        doc = await _upload(owner, "The office wifi password is hunter2.")
        r = await m.delete(f"/v1/documents/{doc['id']}")
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "forbidden"
        assert (await owner.get(f"/v1/documents/{doc['id']}")).status_code == 200
        # Her own upload she deletes; the owner (an admin) deletes any tenant document.
        own = await _upload(m, "my notes")
        assert (await m.delete(f"/v1/documents/{own['id']}")).status_code == 204
        assert (await owner.delete(f"/v1/documents/{doc['id']}")).status_code == 204


async def test_a_conversations_documents_are_its_owners_only(jwt_edge: Edge) -> None:
    await jwt_edge.login("owner@acme.io")
    member = f"m-{uuid.uuid4().hex[:6]}@acme.io"
    await jwt_edge.member(member)
    async with jwt_edge.client("owner@acme.io") as owner, jwt_edge.client(member) as m:
        cid = (await m.post("/v1/conversations", json={})).json()["id"]
        doc = await _upload(m, "My medical results: all fine.", conversation_id=cid)
        listed = [d["id"] for d in (await owner.get("/v1/documents")).json()["data"]]
        assert doc["id"] not in listed
        for r in (await owner.get(f"/v1/documents/{doc['id']}"),
                  await owner.delete(f"/v1/documents/{doc['id']}")):
            assert r.status_code == 404
            assert "medical" not in r.text
        assert doc["id"] in [d["id"] for d in (await m.get("/v1/documents")).json()["data"]]
        # Nor can anyone upload into a conversation that is not theirs.
        r = await owner.post("/v1/documents", data={"conversation_id": cid},
                             files={"file": ("x.txt", b"planted", "text/plain")})
        assert r.status_code == 404


def _rename(db: Path, table: str, to: str) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute(f"ALTER TABLE {table} RENAME TO {to}")


async def test_a_store_outage_during_an_ownership_check_is_503(tmp_path: Path) -> None:
    edge = start_dev_edge(tmp_path)
    db = tmp_path / "data" / "chatstream.db"
    try:
        async with httpx.AsyncClient(base_url=edge.url, timeout=60) as c:
            cid = (await c.post("/v1/conversations", json={})).json()["id"]
            doc = await _upload(c, "quarterly figures")
            # The tables the checks read disappear: to the edge, the store is failing.
            _rename(db, "documents", "documents_away")
            _rename(db, "conversations", "conversations_away")
            for r in (await c.delete(f"/v1/documents/{doc['id']}"),
                      await c.post(f"/v1/conversations/{cid}/messages",
                                   json={"text": "accepted unchecked?"})):
                assert r.status_code == 503, r.text
                assert r.json()["error"]["code"] == "unavailable"
                assert r.headers["retry-after"]
                assert str(tmp_path) not in r.text and "sqlite" not in r.text.lower()
            _rename(db, "documents_away", "documents")
            _rename(db, "conversations_away", "conversations")
            assert (await c.delete(f"/v1/documents/{doc['id']}")).status_code == 204
            r = await c.get(f"/v1/conversations/{cid}/messages")
            assert r.status_code == 200
            assert "accepted unchecked?" not in r.text
    finally:
        edge.stop()
