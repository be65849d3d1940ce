"""Found by reading #26: reading an answer's stream, cancelling one and refreshing a token
were unthrottled. Each costs the edge more than the asking (an unknown stream is searched
for in the log, a cancel is published, a refresh reads and writes the store): now each is
counted per caller before any of that work, 429 with Retry-After past its rate."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from schemas.events import new_id
from tests.security.support import Edge, start_jwt_edge


@pytest.fixture(scope="module")
def throttled_edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    edge = start_jwt_edge(tmp_path_factory.mktemp("throttled"),
                          CHATSTREAM_STREAM_READS_PER_MINUTE="5",
                          CHATSTREAM_CANCELS_PER_MINUTE="3",
                          CHATSTREAM_REFRESHES_PER_MINUTE="3")
    yield edge
    edge.stop()


async def _burst(c: httpx.AsyncClient, method: str, path: str, allowed: int,
                 body: dict[str, str] | None = None) -> list[httpx.Response]:
    """``allowed`` requests one by one, then three at once."""
    first = [await c.request(method, path, json=body) for _ in range(allowed)]
    rest = await asyncio.gather(*(c.request(method, path, json=body) for _ in range(3)))
    return [*first, *rest]


def _refused(r: httpx.Response) -> bool:
    return r.status_code == 429 and r.json()["error"]["code"] == "rate_limited" \
        and int(r.headers["retry-after"]) >= 1


async def test_stream_reads_are_throttled_per_user(throttled_edge: Edge) -> None:
    await throttled_edge.member("reader@acme.io")
    async with throttled_edge.client("reader@acme.io") as c:
        got = await _burst(c, "GET", f"/v1/requests/{new_id()}/events", 5)
    assert [r.status_code for r in got[:5]] == [404] * 5
    assert any(_refused(r) for r in got[5:]), [r.status_code for r in got]
    # Another user is counted apart.
    await throttled_edge.login("owner@acme.io")
    async with throttled_edge.client("owner@acme.io") as c:
        assert (await c.get(f"/v1/requests/{new_id()}/events")).status_code == 404


async def test_cancels_are_throttled_per_user(throttled_edge: Edge) -> None:
    await throttled_edge.member("canceller@acme.io")
    async with throttled_edge.client("canceller@acme.io") as c:
        got = await _burst(c, "POST", f"/v1/requests/{new_id()}/cancel", 3)
    assert [r.status_code for r in got[:3]] == [404] * 3
    assert any(_refused(r) for r in got[3:]), [r.status_code for r in got]


async def test_refreshes_are_throttled_per_address(throttled_edge: Edge) -> None:
    async with throttled_edge.client() as c:  # one address of its own
        got = await _burst(c, "POST", "/v1/auth/refresh", 3, {"refresh_token": "not-a-token"})
    assert [r.status_code for r in got[:3]] == [401] * 3
    assert any(_refused(r) for r in got[3:]), [r.status_code for r in got]


async def test_an_anonymous_stream_read_is_401_before_it_is_counted(
        throttled_edge: Edge) -> None:
    async with throttled_edge.client() as c:
        statuses = {(await c.get(f"/v1/requests/{new_id()}/events")).status_code
                    for _ in range(8)}
    assert statuses == {401}
