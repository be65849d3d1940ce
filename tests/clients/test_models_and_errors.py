"""``/v1/models`` as the SDKs read it (every model with ``created`` and ``owned_by``, the
embedder with its kind, one model by id), and every error of the edge in OpenAI's shape,
chatstream's ``code`` and ``message`` kept."""

from __future__ import annotations

import httpx
import openai
import pytest


async def test_every_model_is_listed_as_openai_lists_them(oai: openai.AsyncOpenAI) -> None:
    listed = (await oai.models.list()).data
    assert listed and all(m.created > 0 and m.owned_by and m.object == "model"
                          for m in listed)
    kinds = {m.id: m.model_dump().get("kind") for m in listed}
    assert kinds["fake"] == "chat"
    [embedder] = [name for name, kind in kinds.items() if kind == "embedding"]
    found = await oai.models.retrieve(embedder)
    assert found.id == embedder and found.model_dump()["kind"] == "embedding"
    fake = await oai.models.retrieve("fake")
    assert fake.owned_by == "fake" and fake.model_dump()["context_window"] == 8192


async def test_an_unknown_model_is_404_in_openais_shape(oai: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await oai.models.retrieve("gpt-17")
    assert caught.value.code == "model_not_found" and caught.value.param == "model"


@pytest.mark.parametrize(("method", "path", "body", "status", "kind"), [
    ("GET", "/v1/conversations/nope/messages", None, 404, "not_found_error"),
    ("POST", "/v1/conversations", b"{nope", 422, "invalid_request_error"),
    ("POST", "/v1/conversations", b'{"title": "' + b"x" * (2 << 20) + b'"}', 413,
     "invalid_request_error"),
])
async def test_every_error_is_in_openais_shape_too(
        client: httpx.AsyncClient, method: str, path: str, body: bytes | None, status: int,
        kind: str) -> None:
    r = await client.request(method, path, content=body,
                             headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] and error["message"]  # chatstream's keys
    assert error["type"] == kind and "param" in error  # and OpenAI's
