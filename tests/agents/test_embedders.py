"""The offline hashing embedder, and the OpenAI-compatible one against a real local
HTTP server speaking the embeddings protocol, through the official SDK."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from agents.embedders.hashing import HashingEmbedder
from agents.embedders.openai import OpenAIEmbedder
from harness.fake_embeddings import EmbeddingsServer
from kernel.errors import ProviderError


def cosine(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


async def test_hashing_vectors_are_unit_length_and_deterministic() -> None:
    embedder = HashingEmbedder(dimensions=512)
    [a, b] = await embedder.embed(["The reactor was commissioned in 1987.",
                                   "The reactor was commissioned in 1987."])
    assert len(a) == 512
    assert a == b
    assert np.linalg.norm(a) == pytest.approx(1.0)
    assert embedder.space == "hashing-v1-512"


async def test_hashing_puts_shared_words_close_and_others_apart() -> None:
    embedder = HashingEmbedder()
    q, near, far = await embedder.embed([
        "When was the reactor commissioned?",
        "The Zorblat reactor was commissioned in 1987 by Ilse Varnhagen.",
        "Lentil soup is served in the cafeteria on Thursdays.",
    ])
    assert cosine(q, near) > 0.4
    assert abs(cosine(q, far)) < 0.1


async def test_hashing_ignores_stopwords_and_inflection() -> None:
    embedder = HashingEmbedder()
    [a, b] = await embedder.embed(["refunds for shipped orders", "the refund of a shipping order"])
    assert cosine(a, b) > 0.6
    [empty] = await embedder.embed(["the of and"])
    assert not any(empty)


@pytest.fixture
def server() -> Iterator[EmbeddingsServer]:
    s = EmbeddingsServer().start()
    yield s
    s.stop()


async def test_openai_compatible_embedder_batches_and_orders(server: EmbeddingsServer) -> None:
    embedder = OpenAIEmbedder("text-embedding-3-small", api_key="sk-test",
                              base_url=server.base_url, batch_size=2)
    try:
        texts = ["alpha reactor", "beta soup", "gamma gate"]
        vectors = await embedder.embed(texts)
    finally:
        await embedder.close()
    expected = HashingEmbedder(dimensions=64)
    assert vectors == [expected.embed_one(t) for t in texts]
    assert [r["input"] for r in server.requests] == [texts[:2], texts[2:]]
    assert {r["model"] for r in server.requests} == {"text-embedding-3-small"}
    assert server.authorizations == ["Bearer sk-test"] * 2
    assert embedder.space == "openai-text-embedding-3-small"


async def test_server_errors_are_retryable_and_client_errors_are_not(
        server: EmbeddingsServer) -> None:
    embedder = OpenAIEmbedder("m", api_key="k", base_url=server.base_url, max_retries=0)
    try:
        server.failures = [503]
        with pytest.raises(ProviderError) as unavailable:
            await embedder.embed(["x"])
        assert unavailable.value.retryable
        server.failures = [401]
        with pytest.raises(ProviderError) as refused:
            await embedder.embed(["x"])
        assert not refused.value.retryable
        assert len(await embedder.embed(["x"])) == 1
    finally:
        await embedder.close()


async def test_unreachable_endpoint_is_retryable() -> None:
    embedder = OpenAIEmbedder("m", api_key="k", base_url="http://127.0.0.1:9/v1",
                              max_retries=0, timeout_s=2)
    try:
        with pytest.raises(ProviderError) as exc:
            await embedder.embed(["x"])
        assert exc.value.retryable
    finally:
        await embedder.close()
