"""#26.1: the JSON depth scan costs the edge little whatever the body, and the edge
keeps answering while it runs.

Attack: 65 ``[`` then ``"`` and ``\\"`` repeated, no credential needed. The old scan's
string pattern restarted at every quote of the unterminated string: 48 KB held the event
loop for 6.9 s (/healthz with it), and the cost grew with the square of the body (1 MiB:
about an hour)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.security.support import Edge

MIB = 1024 * 1024


def _hostile(size: int) -> bytes:
    """65 brackets, then one string that never ends, made of escaped quotes."""
    return b"[" * 65 + b'"' + b'\\"' * ((size - 66) // 2)


@pytest.mark.parametrize("size", [48 * 1024, MIB], ids=["48KB", "1MiB"])
async def test_a_hostile_body_costs_little_and_healthz_answers(dev_edge: Edge,
                                                               size: int) -> None:
    body = _hostile(size)
    assert len(body) <= MIB  # within the JSON limit: the scan does see it
    async with httpx.AsyncClient(base_url=dev_edge.url, timeout=30) as c:
        assert (await c.get("/healthz")).status_code == 200  # connected and warm
        before = dev_edge.process.cpu_seconds()
        attack = asyncio.ensure_future(c.post(
            "/v1/chat/completions", content=body,
            headers={"Content-Type": "application/json"}))
        probes = []
        while not attack.done():
            probes.append((await c.get("/healthz", timeout=5)).status_code)
            await asyncio.sleep(0.02)
        r = await asyncio.wait_for(attack, 60)
        spent = dev_edge.process.cpu_seconds() - before
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "too_deep"
    assert probes and set(probes) == {200}
    # Receiving the body, scanning it and answering: a few ms of CPU (the old scan took
    # 6.9 s for 48 KB); the bound leaves room for a loaded machine.
    assert spent < 1.0, f"{spent:.2f} s of CPU for one {len(body)}-byte body"
