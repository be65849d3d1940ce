"""#26.15: a caller's ``X-Request-Id`` reaches the log only when it is a plausible id.

Attack: a 100 KB ``X-Request-Id`` was written verbatim into every log line of its
request (the header limit now refuses 100 KB; 16 KB and odd characters still fit)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.security.support import Edge


def _failed_logins(edge: Edge) -> list[dict[str, Any]]:
    lines = edge.process.log_path.read_text().splitlines()
    return [json.loads(line) for line in lines
            if line.startswith("{") and '"failed login"' in line]


async def _new_failed_login(edge: Edge, before: int) -> dict[str, Any]:
    """The one "failed login" line logged after the first ``before``. The log reaches
    its file through a pipe and the test process's pump thread, after the response."""
    for _ in range(200):  # 10 s at most
        new = _failed_logins(edge)[before:]
        if new:
            break
        await asyncio.sleep(0.05)
    [line] = new
    return line


async def test_a_huge_or_odd_request_id_is_replaced_by_a_fresh_one(jwt_edge: Edge) -> None:
    hostile = ["r" * 16_000, "a b", "id\twith\ttabs", 'quo"te', "x" * 129]
    for i, given in enumerate([*hostile, "req-42.alpha:7"]):
        before = len(_failed_logins(jwt_edge))
        async with jwt_edge.client(**{"X-Request-Id": given}) as c:
            r = await c.post("/v1/auth/token", json={"email": f"nobody{i}@acme.io",
                                                     "password": "wrong-password-1"})
            assert r.status_code == 401, r.text
        line = await _new_failed_login(jwt_edge, before)
        if given in hostile:
            logged = line["request_id"]
            assert logged != given and len(logged) == 32 and int(logged, 16) >= 0
        else:
            assert line["request_id"] == given  # a plausible id is kept, for tracing
    assert "r" * 1000 not in jwt_edge.process.log_path.read_text()
