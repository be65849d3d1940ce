"""Analytics end to end: two tenants' conversations, their aggregates on
/v1/analytics/summary, and a fresh consumer group rebuilding the same numbers."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.process import ChatstreamProcess
from tests.e2e.chat import ask, new_conversation, wait_for_messages
from tests.support.stacks import Stack

PROMPTS = {
    "a": ["I want to buy the premium plan, what is the price?",
          "How do I reset my password?",
          "This is terrible, nothing works and I am angry."],
    "b": ["Can I book a demo for next Tuesday?", "Thanks, that was great help!"],
}


async def _summary(url: str, tenant: str, want_scored: int,
                   timeout: float = 90.0) -> dict[str, Any]:
    """The tenant's per-minute summary once ``want_scored`` turns are counted in it."""
    async with httpx.AsyncClient(base_url=url, headers={"X-Dev-Tenant": tenant}) as c:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            r = await c.get("/v1/analytics/summary")
            assert r.status_code == 200, r.text
            body: dict[str, Any] = r.json()
            totals = body["totals"] or {}
            if totals.get("scored", 0) >= want_scored or (
                    asyncio.get_running_loop().time() > deadline):
                return body
            await asyncio.sleep(0.5)


@pytest.mark.parametrize("stack", ["kafka"], indirect=True)
async def test_two_tenants_aggregates_and_a_fresh_group_rebuilds_them(
        stack: Stack, tmp_path: Path) -> None:
    run = uuid.uuid4().hex[:6]
    tenants = {k: f"analytics-{k}-{run}" for k in PROMPTS}
    expected: dict[str, dict[str, Any]] = {}
    for k, prompts in PROMPTS.items():
        async with httpx.AsyncClient(base_url=stack.url, timeout=30,
                                     headers={"X-Dev-Tenant": tenants[k]}) as c:
            cid = await new_conversation(c)
            tokens, qualities, intents = 0, [], {}  # type: ignore[var-annotated]
            for text in prompts:
                answer = await ask(c, cid, text)
                assert answer.last.event == "done", stack.logs()
                usage = answer.last.json()["usage"]
                tokens += usage["prompt_tokens"] + usage["completion_tokens"]
            stored = await wait_for_messages(c, cid, 2 * len(prompts), scored=True)
            for m in stored:
                if m["role"] == "assistant":
                    qualities.append(m["scores"]["quality"])
                    intents[m["scores"]["intent"]] = intents.get(m["scores"]["intent"], 0) + 1
            expected[k] = {"messages": len(prompts), "tokens": tokens, "intents": intents,
                           "mean_quality": sum(qualities) / len(qualities)}

    first = {}
    for k, tenant in tenants.items():
        body = await _summary(stack.url, tenant, len(PROMPTS[k]))
        totals = body["totals"]
        assert body["tenant_id"] == tenant and body["group"] == "analytics"
        assert totals["messages"] == expected[k]["messages"], body
        assert totals["responses"] == expected[k]["messages"]
        assert totals["tokens"] == expected[k]["tokens"]
        assert totals["intents"] == expected[k]["intents"]
        assert sum(totals["sentiments"].values()) == len(PROMPTS[k])
        assert totals["mean_quality"] == pytest.approx(expected[k]["mean_quality"], abs=1e-6)
        assert set(totals["p95_ttft_ms"]) == {"local"} and totals["p95_ttft_ms"]["local"] > 0
        hours = await _hours(stack.url, tenant)
        assert hours["totals"]["messages"] == expected[k]["messages"]
        first[k] = body

    # A new consumer group from offset 0, with its own edge reading its snapshots.
    env = {**stack.env, "CHATSTREAM_ANALYTICS_GROUP": f"rebuild{run}"}
    worker = ChatstreamProcess(["worker", "analytics"], env, tmp_path / "analytics.log",
                               ready="workers running").start(180)
    edge = ChatstreamProcess(["edge", "--port", "0"], env, tmp_path / "edge.log").start(180)
    try:
        assert edge.url
        for k, tenant in tenants.items():
            again = await _summary(edge.url, tenant, len(PROMPTS[k]))
            assert again["group"] == f"analytics-rebuild{run}"
            assert again["windows"] == first[k]["windows"], worker.tail()
            assert again["totals"] == first[k]["totals"]
    finally:
        edge.stop()
        worker.stop()


async def _hours(url: str, tenant: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, headers={"X-Dev-Tenant": tenant}) as c:
        r = await c.get("/v1/analytics/summary", params={"granularity": "hours"})
        assert r.status_code == 200
        body: dict[str, Any] = r.json()
        return body
