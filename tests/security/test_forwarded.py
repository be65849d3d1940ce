"""#26.5: ``X-Forwarded-For`` is believed only from TRUSTED_PROXIES, decided by the edge
alone.

Attack: uvicorn's own proxy-header handling trusts 127.0.0.1 by default and rewrote the
client's address from ``X-Forwarded-For`` before the edge looked at TRUSTED_PROXIES, so a
client on the same host (or behind a local proxy) picked a new address per login and the
per-address login throttle never fired."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.security.support import Edge, start_jwt_edge


@pytest.fixture(scope="module")
def edge_without_proxies(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    edge = start_jwt_edge(tmp_path_factory.mktemp("no-proxies"),
                          CHATSTREAM_TRUSTED_PROXIES="[]",
                          CHATSTREAM_LOGIN_ATTEMPTS_PER_MINUTE="3")
    yield edge
    edge.stop()


async def test_forwarded_for_from_loopback_does_not_dodge_the_login_throttle(
        edge_without_proxies: Edge) -> None:
    statuses = []
    async with httpx.AsyncClient(base_url=edge_without_proxies.url, timeout=30) as c:
        for i in range(6):
            r = await c.post("/v1/auth/token",
                             json={"email": f"guess{i}@acme.io", "password": "wrong-one-1"},
                             headers={"X-Forwarded-For": f"203.0.113.{i + 1}"})
            statuses.append(r.status_code)
    assert statuses[:3] == [401, 401, 401]
    assert statuses[3:] == [429, 429, 429]
