"""#17.1 open by default: a dev-mode edge is for this machine only.

Attacks: `chatstream up --host 0.0.0.0` serving anyone as any tenant; a web page that
rebinds its DNS name to 127.0.0.1 (its requests carry its own Host); any web page
POSTing to a local edge with a "simple" content type (no CORS preflight)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.security.support import Edge, edge_env, start_dev_edge

COMPLETION = '{"model": "extractive", "messages": [{"role": "user", "content": "hello"}]}'


def test_dev_auth_refuses_to_listen_on_the_network(tmp_path: Path) -> None:
    env = {**edge_env(tmp_path), "CHATSTREAM_AUTH": "dev"}
    run = subprocess.run([sys.executable, "-m", "chatstream.cli", "up", "--host", "0.0.0.0",
                          "--port", "0"], env={**os.environ, **env},
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "CHATSTREAM_ALLOW_INSECURE_DEV_AUTH_ON_NETWORK" in run.stderr
    assert "listening on" not in run.stdout


def test_the_loudly_named_setting_allows_it(tmp_path: Path) -> None:
    edge = start_dev_edge(tmp_path, CHATSTREAM_HOST="0.0.0.0",
                          CHATSTREAM_ALLOW_INSECURE_DEV_AUTH_ON_NETWORK="true")
    try:
        assert httpx.get(f"{edge.url}/healthz", timeout=30).status_code == 200
    finally:
        edge.stop()


async def test_a_rebound_dns_name_is_refused(dev_edge: Edge) -> None:
    async with httpx.AsyncClient(base_url=dev_edge.url, timeout=30) as c:
        r = await c.get("/v1/conversations", headers={"Host": "attacker.example:8000"})
        assert r.status_code == 400
        assert r.json()["error"]["code"] == "invalid_host"
        assert "data" not in r.json()
        assert (await c.get("/v1/conversations")).status_code == 200
        r = await c.get("/v1/conversations", headers={"Host": "localhost"})
        assert r.status_code == 200


async def test_a_cross_site_page_is_refused(dev_edge: Edge) -> None:
    async with httpx.AsyncClient(base_url=dev_edge.url, timeout=30) as c:
        r = await c.post("/v1/conversations", json={"title": "csrf"},
                         headers={"Origin": "https://attacker.example"})
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "cross_origin"
        titles = [x["title"] for x in (await c.get("/v1/conversations")).json()["data"]]
        assert "csrf" not in titles
        # The edge's own page (same origin) still works.
        r = await c.post("/v1/conversations", json={"title": "own page"},
                         headers={"Origin": dev_edge.url.rstrip("/")})
        assert r.status_code == 201


@pytest.mark.parametrize(("path", "content_type", "body"), [
    ("/v1/chat/completions", "text/plain", COMPLETION),
    ("/v1/chat/completions", "application/x-www-form-urlencoded", "a=1"),
    ("/v1/chat/completions", "multipart/form-data; boundary=x",
     '--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--\r\n'),
    ("/v1/conversations", "text/plain", '{"title": "csrf"}'),
    # The upload route takes multipart and, for a page by URL, JSON (a preflight).
    ("/v1/documents", "text/plain", '{"url": "https://example.com/"}'),
    ("/v1/documents", "application/x-www-form-urlencoded", "url=https://example.com/"),
    ("/v1/documents", "application/xml", "<url>https://example.com/</url>"),
])
async def test_bodies_of_another_type_are_415(dev_edge: Edge, path: str, content_type: str,
                                              body: str) -> None:
    """A cross-site form or `fetch(..., {mode: "no-cors"})` can only send these types;
    none of them is served, so none of them publishes anything."""
    async with httpx.AsyncClient(base_url=dev_edge.url, timeout=30) as c:
        before = await _published(c)
        r = await c.post(path, content=body, headers={"Content-Type": content_type})
        assert r.status_code == 415, r.text
        assert r.json()["error"]["code"] == "unsupported_media_type"
        assert await _published(c) == before


async def test_json_on_the_upload_route_is_read_as_a_page_by_url(dev_edge: Edge) -> None:
    """JSON is the upload route's other body (a page by URL, #30): read as that, so a
    body without a url is refused for what it lacks, not for its type."""
    async with httpx.AsyncClient(base_url=dev_edge.url, timeout=30) as c:
        before = await _published(c)
        r = await c.post("/v1/documents", json={"file": "x"})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "invalid_body"
        assert "url" in r.json()["error"]["message"]
        assert await _published(c) == before


async def _published(c: httpx.AsyncClient) -> tuple[object, object]:
    """The caller's conversations and documents."""
    conversations = await c.get("/v1/conversations", params={"limit": 200})
    documents = await c.get("/v1/documents", params={"limit": 500})
    return conversations.json()["data"], documents.json()["data"]
