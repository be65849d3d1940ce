"""One contract for every VectorIndex adapter: the embedded index on disk, Weaviate live.

The Weaviate cases use the server ``deploy/local/services.py start weaviate`` runs, in a
collection made for this session and deleted after it; tenants are fresh per test.
"""

from __future__ import annotations

import os
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from agents.embedders.hashing import HashingEmbedder
from harness.servers import WEAVIATE, require
from kernel.errors import StoreUnavailable
from stores.vectors.base import Hit, IndexedChunk, VectorIndex
from stores.vectors.embedded import EmbeddedVectorIndex, fuse
from stores.vectors.weaviate import WeaviateVectorIndex, collection_name, tenant_name

WEAVIATE_GRPC_PORT = int(os.environ.get("CHATSTREAM_WEAVIATE_GRPC_PORT", "50051"))
EMBEDDER = HashingEmbedder(dimensions=256)
SPACE = EMBEDDER.space

PASSAGES = [
    "The Zorblat reactor was commissioned in 1987 by Ilse Varnhagen.",
    "Molten thorium salts cool the core of the reactor.",
    "The cafeteria serves lentil soup on Thursdays.",
    "Visitors park behind the east gate and sign in at reception.",
]


@pytest.fixture(scope="session")
def weaviate_collection() -> Iterator[str]:
    base = "ItChunks" + uuid.uuid4().hex[:10]
    yield base
    import weaviate

    host, port = WEAVIATE.rsplit(":", 1)
    try:
        client = weaviate.connect_to_local(host=host, port=int(port),
                                           grpc_port=WEAVIATE_GRPC_PORT,
                                           skip_init_checks=True)
    except Exception:
        return  # unreachable all along: the failing tests already said so
    try:
        client.collections.delete(collection_name(base, SPACE))
    finally:
        client.close()


@pytest.fixture(params=["embedded", pytest.param("weaviate", marks=pytest.mark.weaviate)])
async def index(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[VectorIndex]:
    adapter: VectorIndex
    if request.param == "embedded":
        adapter = EmbeddedVectorIndex(tmp_path / "vectors.db", SPACE)
    else:
        require(WEAVIATE, "Weaviate")
        host, port = WEAVIATE.rsplit(":", 1)
        adapter = WeaviateVectorIndex(host, int(port), WEAVIATE_GRPC_PORT, SPACE,
                                      collection=request.getfixturevalue("weaviate_collection"))
    await adapter.start()
    try:
        yield adapter
    finally:
        await adapter.close()


def tenant() -> str:
    return f"tenant-{uuid.uuid4().hex[:10]}"


async def chunks(tenant_id: str, document_id: str, texts: list[str], *,
                 scope: str = "", title: str = "Lab notes",
                 first: int = 0) -> list[IndexedChunk]:
    vectors = await EMBEDDER.embed(texts)
    return [IndexedChunk(tenant_id=tenant_id, document_id=document_id, chunk=first + i,
                         title=title, text=t, vector=v, scope=scope)
            for i, (t, v) in enumerate(zip(texts, vectors, strict=True))]


async def search(index: VectorIndex, tenant_id: str, query: str, *,
                 scope: str = "", limit: int = 5, alpha: float = 0.5) -> list[Hit]:
    [vector] = await EMBEDDER.embed([query])
    return await index.search(tenant_id, query, vector, scope=scope, limit=limit, alpha=alpha)


async def test_ready(index: VectorIndex) -> None:
    ok, detail = await index.ready()
    assert ok, detail


async def test_search_finds_the_passage_that_answers(index: VectorIndex) -> None:
    t = tenant()
    await index.upsert(await chunks(t, "doc-1", PASSAGES))
    hits = await search(index, t, "Who commissioned the Zorblat reactor?")
    assert hits[0].document_id == "doc-1"
    assert hits[0].chunk == 0
    assert hits[0].title == "Lab notes"
    assert "Ilse Varnhagen" in hits[0].text
    assert hits[0].similarity > 0.3
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


async def test_upsert_is_idempotent_by_document_and_chunk(index: VectorIndex) -> None:
    t = tenant()
    await index.upsert(await chunks(t, "doc-1", PASSAGES))
    await index.upsert(await chunks(t, "doc-1", PASSAGES))
    assert await index.count(t, "doc-1") == len(PASSAGES)
    await index.upsert(await chunks(t, "doc-1", ["The soup is now served on Fridays."],
                                    first=2))
    assert await index.count(t, "doc-1") == len(PASSAGES)
    hits = await search(index, t, "When is the soup served?")
    assert any("Fridays" in h.text for h in hits)
    assert not any("Thursdays" in h.text for h in hits)


async def test_delete_removes_a_document_or_its_tail(index: VectorIndex) -> None:
    t = tenant()
    await index.upsert(await chunks(t, "doc-1", PASSAGES))
    await index.upsert(await chunks(t, "doc-2", ["Unrelated text about gardening tools."]))
    await index.delete_document(t, "doc-1", from_chunk=2)
    assert await index.count(t, "doc-1") == 2
    await index.delete_document(t, "doc-1")
    assert await index.count(t, "doc-1") == 0
    assert await index.count(t, "doc-2") == 1
    assert all(h.document_id == "doc-2" for h in await search(index, t, "Zorblat reactor"))
    await index.delete_document(t, "never-indexed")  # nothing to do is not an error


async def test_tenants_never_see_each_other(index: VectorIndex) -> None:
    a, b = tenant(), tenant()
    await index.upsert(await chunks(a, "doc-a", PASSAGES))
    assert await search(index, b, "Zorblat reactor") == []
    assert await index.count(b, "doc-a") == 0


async def test_scopes_are_searched_apart(index: VectorIndex) -> None:
    t = tenant()
    await index.upsert(await chunks(t, "wide", PASSAGES[:2]))
    await index.upsert(await chunks(t, "mine", PASSAGES[2:], scope="conv-1"))
    await index.upsert(await chunks(t, "kind", PASSAGES[2:], scope="assistant:a1"))
    assert {h.document_id for h in await search(index, t, "reactor soup gate")} == {"wide"}
    scoped = await search(index, t, "reactor soup gate", scope="conv-1")
    assert {h.document_id for h in scoped} == {"mine"}
    assert all(h.scope == "conv-1" for h in scoped)
    assert await search(index, t, "reactor soup gate", scope="conv-2") == []
    assert {h.document_id for h in await search(index, t, "reactor soup gate",
                                                 scope="assistant:a1")} == {"kind"}


async def test_alpha_zero_is_keywords_only(index: VectorIndex) -> None:
    t = tenant()
    await index.upsert(await chunks(t, "doc-1", PASSAGES))
    hits = await search(index, t, "lentil", alpha=0.0)
    assert [h.chunk for h in hits] == [2]


async def test_limit_is_respected(index: VectorIndex) -> None:
    t = tenant()
    await index.upsert(await chunks(t, "doc-1", PASSAGES))
    assert len(await search(index, t, "reactor thorium soup gate", limit=2)) == 2


def test_relative_score_fusion() -> None:
    fused = fuse({1: 0.9, 2: 0.5, 3: 0.1}, {2: 7.0, 4: 3.0}, alpha=0.5)
    assert fused == pytest.approx({1: 0.5, 2: 0.75, 3: 0.0, 4: 0.0})
    assert fuse({1: 0.3}, {}, alpha=0.5) == {1: 0.5}


def test_weaviate_names() -> None:
    assert tenant_name("dev") == "dev"
    assert tenant_name("acme:eu/1").startswith("h-")
    assert tenant_name("acme:eu/1") == tenant_name("acme:eu/1")
    assert collection_name("ChatstreamChunks", "hashing-v1-1024") == \
        "ChatstreamChunks_hashing_v1_1024"


@pytest.mark.weaviate
async def test_weaviate_without_its_grpc_port_is_unavailable_at_start(
        weaviate_collection: str) -> None:
    require(WEAVIATE, "Weaviate")
    host, port = WEAVIATE.rsplit(":", 1)
    with socket.socket() as unused:  # a port nothing listens on
        unused.bind(("127.0.0.1", 0))
        silent = unused.getsockname()[1]
    adapter = WeaviateVectorIndex(host, int(port), silent, SPACE, collection=weaviate_collection)
    with pytest.raises(StoreUnavailable, match="gRPC"):
        await adapter.start()


@pytest.mark.weaviate
async def test_weaviate_start_connects_to_nothing_but_its_server(
        weaviate_collection: str) -> None:
    """weaviate-client's start-up checks ask pypi.org for its latest version: a call off
    this network from every process using the index, which the adapter skips."""
    require(WEAVIATE, "Weaviate")
    host, port = WEAVIATE.rsplit(":", 1)
    reached: list[str] = []
    watching = [True]

    def hook(event: str, args: tuple[object, ...]) -> None:
        if watching[0] and event in ("socket.getaddrinfo", "socket.connect"):
            target = args[0] if event == "socket.getaddrinfo" else args[1]
            reached.append(repr(target))

    sys.addaudithook(hook)  # process-wide and permanent: it records only while watching
    adapter = WeaviateVectorIndex(host, int(port), WEAVIATE_GRPC_PORT, SPACE,
                                  collection=weaviate_collection)
    try:
        await adapter.start()
    finally:
        watching[0] = False
        await adapter.close()
    assert reached and all("127.0.0.1" in r or "localhost" in r for r in reached), reached
