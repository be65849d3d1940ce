"""The semantic embedder: all-MiniLM-L6-v2 (int8 ONNX) from the installed packages, on
onnxruntime. Real model, real tokenizer: what a question and a passage look like to it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np
import pytest

from agents.embedders.onnx import MINILM_SPACE, OnnxEmbedder, minilm_files


@pytest.fixture(scope="module")
async def embedder() -> AsyncIterator[OnnxEmbedder]:
    e = OnnxEmbedder(minilm_files())
    yield e
    await e.close()


def cosine(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b))  # unit vectors


async def test_vectors_are_unit_length_in_their_own_space(embedder: OnnxEmbedder) -> None:
    [v] = await embedder.embed(["The reactor was commissioned in 1987."])
    assert len(v) == 384 == embedder.dimensions
    assert np.linalg.norm(v) == pytest.approx(1.0, abs=1e-5)
    assert embedder.space == MINILM_SPACE


async def test_a_paraphrase_is_nearer_than_an_unrelated_passage(embedder: OnnxEmbedder) -> None:
    # No content word in common between the question and the passage it asks about.
    question, near, far = await embedder.embed([
        "How much do the staff earn?",
        "Employees' wages are paid on the last day of each month: 3,200 euros gross.",
        "The lighthouse lamp is lit at dusk and trimmed at midnight.",
    ])
    assert cosine(question, near) > cosine(question, far) + 0.2


async def test_batches_of_any_size_keep_their_order(embedder: OnnxEmbedder) -> None:
    texts = [f"Passage number {i} is about {'cats' if i % 2 else 'ships'}." * (1 + i % 5)
             for i in range(40)]
    together = await embedder.embed(texts)
    alone = [(await embedder.embed([t]))[0] for t in texts[:5]]
    for a, b in zip(together[:5], alone, strict=True):
        assert cosine(a, b) == pytest.approx(1.0, abs=1e-4)


async def test_concurrent_callers_each_get_their_own_vectors(embedder: OnnxEmbedder) -> None:
    texts = ["wages and salaries", "a lighthouse at dusk", "the capital of France"]
    expected = await embedder.embed(texts)
    got = await asyncio.gather(*(embedder.embed([t]) for t in texts))
    for [v], e in zip(got, expected, strict=True):
        assert cosine(v, e) == pytest.approx(1.0, abs=1e-4)


async def test_a_text_longer_than_the_model_takes_is_cut_not_refused(
        embedder: OnnxEmbedder) -> None:
    [v] = await embedder.embed(["word " * 5000])
    assert np.linalg.norm(v) == pytest.approx(1.0, abs=1e-5)
    assert await embedder.embed([]) == []


async def test_one_tenants_batch_does_not_hold_another_tenants_question(
        embedder: OnnxEmbedder) -> None:
    """Served in turn by tenant (#26.6): a question asked while another tenant's 256
    passages are being embedded is answered at once (its own lane), another tenant's
    batch after one unit of them, not all."""
    passages = [f"Passage {i} of a long manual about ships and harbours. " * 3
                for i in range(256)]
    finished: list[str] = []

    async def embed(texts: list[str], tenant: str, name: str) -> list[list[float]]:
        vectors = await embedder.embed(texts, tenant)
        finished.append(name)
        return vectors

    batch = asyncio.ensure_future(embed(passages, "acme", "batch"))
    await asyncio.sleep(0)  # the batch is queued first
    [question] = await embed(["When does the ferry leave?"], "beta", "question")
    # Another tenant's batch too: after a unit of the first, not after all of it.
    own = await embed(passages[:6], "gamma", "small batch")
    assert finished == ["question", "small batch"]  # the batch is still being embedded
    vectors = await batch
    assert len(vectors) == 256
    [alone] = await embedder.embed([passages[200]])
    assert cosine(vectors[200], alone) == pytest.approx(1.0, abs=1e-4)  # order kept
    assert len(question) == 384 and len(own) == 6
