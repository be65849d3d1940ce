"""Bad input gets a clear JSON error with the right status, never a 500."""

from __future__ import annotations

import httpx

from tests.e2e.chat import new_conversation


def _error(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"]["code"] == code
    assert body["error"]["message"]


async def test_empty_text_is_refused(client: httpx.AsyncClient) -> None:
    cid = await new_conversation(client)
    _error(await client.post(f"/v1/conversations/{cid}/messages", json={"text": "   "}),
           422, "empty_text")


async def test_oversized_text_is_413(client: httpx.AsyncClient) -> None:
    cid = await new_conversation(client)
    _error(await client.post(f"/v1/conversations/{cid}/messages", json={"text": "x" * 16_001}),
           413, "text_too_long")
    _error(await client.post(f"/v1/conversations/{cid}/messages",
                             json={"text": "x" * 2_000_000}), 413, "payload_too_large")


async def test_unknown_conversation_is_404(client: httpx.AsyncClient) -> None:
    _error(await client.post("/v1/conversations/nope/messages", json={"text": "hi"}),
           404, "not_found")
    _error(await client.get("/v1/conversations/nope/messages"), 404, "not_found")


async def test_unknown_model_is_422(client: httpx.AsyncClient) -> None:
    cid = await new_conversation(client)
    _error(await client.post(f"/v1/conversations/{cid}/messages",
                             json={"text": "hi", "model": "gpt-17"}), 422, "unknown_model")


async def test_malformed_json_is_422(client: httpx.AsyncClient) -> None:
    cid = await new_conversation(client)
    _error(await client.post(f"/v1/conversations/{cid}/messages", content=b"{not json",
                             headers={"content-type": "application/json"}), 422, "invalid_json")
    _error(await client.post(f"/v1/conversations/{cid}/messages", json={"txt": "hi"}),
           422, "invalid_request")


async def test_unknown_request_stream_is_404(client: httpx.AsyncClient) -> None:
    _error(await client.get("/v1/requests/00000000-0000-0000-0000-000000000000/events"),
           404, "not_found")


async def test_models_lists_the_offline_model(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/models")
    assert r.status_code == 200
    local = next(m for m in r.json()["data"] if m["id"] == "local")
    assert local["offline"] is True
    assert "Offline" in local["description"]


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    r = await client.get("/readyz")
    assert r.status_code == 200
    assert r.json()["checks"]["log"]["ok"] is True
    assert r.json()["checks"]["store"]["ok"] is True
