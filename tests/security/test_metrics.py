"""#26.9: ``/metrics`` is never open beyond this host without the metrics token.

Attack: ``GET /metrics`` anonymously on the shipped Kubernetes configuration (no metrics
token set) read the whole deployment's traffic figures: with no token, metrics were open
to anyone who could reach the port."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.security.support import Edge, start_jwt_edge


@pytest.fixture(scope="module")
def tokenless_edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    # Behind a proxy on this host (TRUSTED_PROXIES: loopback), as behind an ingress.
    edge = start_jwt_edge(tmp_path_factory.mktemp("tokenless"), CHATSTREAM_METRICS_TOKEN="")
    yield edge
    edge.stop()


@pytest.mark.parametrize(("headers", "status"), [
    ({"X-Forwarded-For": "203.0.113.7"}, 401),  # a client of the trusted proxy
    ({"X-Forwarded-For": "127.0.0.1, 203.0.113.7"}, 401),  # a hop it wrote itself
    ({"Forwarded": "for=203.0.113.7"}, 401),  # another proxy's word: not this host
    ({"X-Real-IP": "203.0.113.7"}, 401),
    ({"X-Forwarded-For": "127.0.0.1"}, 200),  # the proxy relays for this host
    ({}, 200),  # a scrape on this host
], ids=["proxied", "forged-hop", "forwarded", "real-ip", "proxied-local", "local"])
async def test_metrics_without_a_token_are_for_this_host_only(
        tokenless_edge: Edge, headers: dict[str, str], status: int) -> None:
    async with httpx.AsyncClient(base_url=tokenless_edge.url, timeout=30) as c:
        r = await c.get("/metrics", headers=headers)
    assert r.status_code == status, r.text
    if status == 401:
        assert r.json()["error"]["code"] == "unauthorized"
        assert "chatstream_http_requests_total" not in r.text
    else:
        assert "chatstream_http_requests_total" in r.text
