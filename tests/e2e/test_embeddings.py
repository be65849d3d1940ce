"""``POST /v1/embeddings`` through the official openai client, on the embedder the stack
indexes documents with (the offline one by default), metered like chat."""

from __future__ import annotations

import math

import httpx
import openai
import pytest

from kernel.settings import Settings

# The stacks run with the default embedder: the name of its setting is one of its names.
MODEL = Settings.model_fields["embedder"].default


async def test_vectors_for_a_list_of_texts(oai: openai.AsyncOpenAI) -> None:
    texts = ["The ferry leaves at nine.", "Ferries depart at 9 am.", "Teal is a colour."]
    # The SDK asks for base64 unless told otherwise, and decodes it itself.
    found = await oai.embeddings.create(model=MODEL, input=texts)
    assert [d.index for d in found.data] == [0, 1, 2]
    vectors = [d.embedding for d in found.data]
    assert len({len(v) for v in vectors}) == 1 and len(vectors[0]) >= 16
    assert found.usage.prompt_tokens > 0 and found.model

    def cos(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True)) / (
            math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))

    assert cos(vectors[0], vectors[1]) > cos(vectors[0], vectors[2])
    as_floats = await oai.embeddings.create(model=found.model, input=texts[0],
                                            encoding_format="float")
    assert as_floats.data[0].embedding == pytest.approx(vectors[0], abs=1e-6)


@pytest.mark.parametrize(("body", "status", "param"), [
    ({"model": "text-embedding-9", "input": "hi"}, 404, "model"),
    ({"model": MODEL, "input": []}, 400, "input"),
    ({"model": MODEL, "input": [[1, 2, 500_000]]}, 400, "input"),  # not its tokenizer's
    ({"model": MODEL, "input": ["x"] * 257}, 400, "input"),
    ({"model": MODEL, "input": "hi", "dimensions": 3}, 400, "dimensions"),
    ({"model": MODEL, "input": "hi", "truncate": True}, 400, "truncate"),
])
async def test_what_cannot_be_honoured_is_refused_naming_the_field(
        client: httpx.AsyncClient, body: dict[str, object], status: int, param: str) -> None:
    r = await client.post("/v1/embeddings", json=body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["param"] == param
