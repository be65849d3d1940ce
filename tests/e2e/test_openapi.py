"""The OpenAPI document a client generator or /docs reads says what the edge does: a
Bearer scheme, the one error shape on every error response, and the SSE events."""

from __future__ import annotations

import json

import httpx

ERROR_REF = "#/components/schemas/Error"
# The OpenAI-compatible routes answer errors in OpenAI's shape, as its SDKs expect.
OPENAI_ERROR_REF = "#/components/schemas/OpenAIError"
OPENAI_ROUTES = ("/v1/chat/completions", "/v1/responses", "/v1/embeddings")


async def _document(client: httpx.AsyncClient) -> dict[str, object]:
    r = await client.get("/openapi.json")
    assert r.status_code == 200, r.text
    doc: dict[str, object] = r.json()
    return doc


async def test_every_error_response_has_the_edge_error_shape(client: httpx.AsyncClient) -> None:
    doc = await _document(client)
    text = json.dumps(doc)
    assert "HTTPValidationError" not in text  # FastAPI's 422 body, which the edge never sends
    paths = doc["paths"]
    assert isinstance(paths, dict)
    for path, item in paths.items():
        for method, op in item.items():
            want = OPENAI_ERROR_REF if path in OPENAI_ROUTES else ERROR_REF
            for code, response in op["responses"].items():
                if code.startswith(("4", "5")):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": want}, (method, path, code)
    send = paths["/v1/conversations/{cid}/messages"]["post"]["responses"]
    assert {"401", "404", "413", "422", "429", "503"} <= set(send)


async def test_a_bearer_scheme_guards_all_but_the_public_routes(client: httpx.AsyncClient) -> None:
    doc = await _document(client)
    components = doc["components"]
    assert isinstance(components, dict)
    assert components["securitySchemes"]["bearer"] == {
        **components["securitySchemes"]["bearer"], "type": "http", "scheme": "bearer"}
    paths = doc["paths"]
    assert isinstance(paths, dict)
    assert paths["/v1/conversations"]["get"]["security"] == [{"bearer": []}]
    assert "security" not in paths["/v1/auth/token"]["post"]
    assert "security" not in paths["/healthz"]["get"]


async def test_the_answer_stream_is_described_event_by_event(client: httpx.AsyncClient) -> None:
    doc = await _document(client)
    paths = doc["paths"]
    assert isinstance(paths, dict)
    ok = paths["/v1/requests/{rid}/events"]["get"]["responses"]["200"]
    assert "text/event-stream" in ok["content"]
    for event in ("status", "citations", "token", "restart", "done", "error"):
        assert f"`{event}`" in ok["description"]


async def test_the_chat_completion_request_is_described_field_by_field(
        client: httpx.AsyncClient) -> None:
    """A client generator gets OpenAI's request fields (the route reads its body itself,
    so FastAPI would otherwise publish an empty object), and every reference resolves."""
    doc = await _document(client)
    paths = doc["paths"]
    assert isinstance(paths, dict)
    body = paths["/v1/chat/completions"]["post"]["requestBody"]["content"]["application/json"]
    schema = body["schema"]
    assert {"model", "messages"} <= set(schema["required"])
    for field in ("stream", "tools", "tool_choice", "response_format", "stop", "seed"):
        assert field in schema["properties"], field
    text = json.dumps(doc)
    assert "$defs" not in text
    components = doc["components"]
    assert isinstance(components, dict)
    for ref in set(text.split('"$ref": "')[1:]):
        name = ref.split('"', 1)[0].removeprefix("#/components/schemas/")
        assert name in components["schemas"], name
