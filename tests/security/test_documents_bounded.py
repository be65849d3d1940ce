"""#26.8 and a finding by reading: what one upload may cost, and what its reader sees.

Attacks: a 10 KB PDF inflating to 2,475 passages, each embedded and indexed (no cap on
the passages of a document); and the document reader's child process (and tesseract, its
child) got the worker's whole environment, the JWT secret and provider keys included, so
a file that took over the reader would have found them."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.security.support import Edge, start_jwt_edge
from tests.support.documents import make_pdf_bomb
from tests.tenancy.support import SECRET

EMBEDDINGS_KEY = "sk-embeddings-key-never-for-the-reader-0123456789"
SENTENCE = b"(The ferry to Skarholm leaves the north quay at seven and again at noon. ) Tj "


@pytest.fixture(scope="module")
def reader_edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    edge = start_jwt_edge(tmp_path_factory.mktemp("reader"),
                          CHATSTREAM_EXTRACT_MAX_PASSAGES="40", CHATSTREAM_EXTRACT_CPU_S="4",
                          CHATSTREAM_EMBEDDINGS_API_KEY=EMBEDDINGS_KEY)
    yield edge
    edge.stop()


async def _upload(c: httpx.AsyncClient, data: bytes, name: str) -> str:
    r = await c.post("/v1/documents", files={"file": (name, data, "application/pdf")})
    assert r.status_code == 202, r.text
    document_id: str = r.json()["id"]
    return document_id


async def _settled(c: httpx.AsyncClient, document_id: str) -> dict[str, Any]:
    for _ in range(3000):
        doc: dict[str, Any] = (await c.get(f"/v1/documents/{document_id}")).json()
        if doc["status"] in ("ready", "failed"):
            return doc
        await asyncio.sleep(0.2)
    raise AssertionError("the document never settled")


async def test_a_small_pdf_inflating_to_many_passages_is_indexed_capped(
        reader_edge: Edge) -> None:
    pdf = make_pdf_bomb(1, operation=SENTENCE)
    assert len(pdf) < 20_000  # 1 MB of text in a few KB
    await reader_edge.login("owner@acme.io")
    async with reader_edge.client("owner@acme.io") as c:
        doc = await _settled(c, await _upload(c, pdf, "inflating.pdf"))
    assert doc["status"] == "ready", doc
    assert doc["chunks_total"] == doc["chunks_done"] == 40
    assert doc["error"].startswith("only the first 40 of its ")
    assert "CHATSTREAM_EXTRACT_MAX_PASSAGES" in doc["error"]


def _reader_environments(parent: int) -> list[bytes]:
    """The environments of the document readers running under ``parent``: its children
    running the sandbox."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if ppid == parent and b"agents.ingestion.sandbox" in (entry / "cmdline").read_bytes():
                found.append((entry / "environ").read_bytes())
        except (OSError, IndexError, ValueError):
            continue
    return found


async def test_the_reader_sees_no_secret_of_the_worker(reader_edge: Edge) -> None:
    assert reader_edge.process.proc is not None
    edge_pid = reader_edge.process.proc.pid
    await reader_edge.login("owner@acme.io")
    async with reader_edge.client("owner@acme.io") as c:
        # Minutes of CPU to read: stopped at EXTRACT_CPU_S, read meanwhile.
        document_id = await _upload(c, make_pdf_bomb(70), "spinning.pdf")
        environ = b""
        for _ in range(600):
            environ = next(iter(_reader_environments(edge_pid)), b"")
            if environ:
                break
            await asyncio.sleep(0.05)
        assert environ, "no document reader was seen running"
        names = {line.partition(b"=")[0].decode() for line in environ.split(b"\0") if line}
        assert SECRET.encode() not in environ
        assert EMBEDDINGS_KEY.encode() not in environ
        assert not {n for n in names if n.startswith("CHATSTREAM_")}, names
        assert names <= {"PATH", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TESSDATA_PREFIX",
                         "PYTHONPATH", "OMP_THREAD_LIMIT"}, names
        assert os.environ["PATH"].encode() in environ  # what it needs: tesseract's PATH
        doc = await _settled(c, document_id)
    assert doc["status"] == "failed" and "4 s of CPU" in doc["error"]
