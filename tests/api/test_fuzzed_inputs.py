"""Inputs the OpenAPI fuzzer (tests/security/test_openapi_fuzz.py) found answered with a
500, each checked in-process: the real app answers them 4xx with a JSON error."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.api.test_edge_rules import _error, _no_ambient_settings, edge

__all__ = ("_no_ambient_settings",)

HUGE = "19396582120627497861120"  # past any integer column


async def _assistant(c: httpx.AsyncClient) -> None:
    r = await c.post("/v1/assistants", json={"name": "helper", "title": "Helper",
                                             "instructions": "Be brief."})
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("path", [
    f"/v1/assistants/helper/diff?base={HUGE}&other=1",
    f"/v1/assistants/helper/diff?base=1&other={HUGE}",
    "/v1/assistants/helper/diff?base=0&other=-44",
    f"/v1/assistants/helper?version={HUGE}",
])
async def test_an_assistant_version_past_any_number_is_refused(tmp_path: Path,
                                                               path: str) -> None:
    async with edge(tmp_path) as c:
        await _assistant(c)
        _error(await c.get(path), 422)


async def test_a_version_past_any_number_in_a_body_is_refused(tmp_path: Path) -> None:
    async with edge(tmp_path) as c:
        await _assistant(c)
        r = await c.post("/v1/assistants/helper/rollback", json={"version": int(HUGE)})
        _error(r, 422)
        r = await c.post("/v1/conversations", json={})
        cid = r.json()["id"]
        r = await c.post(f"/v1/conversations/{cid}/messages",
                         json={"text": "hello", "assistant": f"helper@{HUGE}"})
        _error(r, 422, "invalid_assistant")
        r = await c.post("/v1/chat/completions", json={
            "model": f"assistant:helper@{HUGE}", "messages": [{"role": "user",
                                                              "content": "hello"}]})
        assert r.status_code == 400, r.text  # OpenAI's error shape on OpenAI's route
        assert r.json()["error"]["code"] == "invalid_assistant"
