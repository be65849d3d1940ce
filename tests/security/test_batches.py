"""#17.7 batches: counted against the plan, owner or admin only, fair between tenants,
evicted when old."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx

from api.views.batches import MAX_BATCHES, BatchView
from schemas.events import BatchSubmitted, utcnow
from tests.security.support import Edge


async def _submit(c: httpx.AsyncClient, prompts: list[str]) -> httpx.Response:
    return await c.post("/v1/batches", json={"prompts": prompts})


async def test_another_members_batch_is_not_theirs_to_read_or_cancel(jwt_edge: Edge) -> None:
    owner = await jwt_edge.tenant("pro")
    alice = f"alice-{uuid.uuid4().hex[:6]}@x.io"
    bob = f"bob-{uuid.uuid4().hex[:6]}@x.io"
    await jwt_edge.member(alice, owner)
    await jwt_edge.member(bob, owner)
    async with jwt_edge.client(alice) as a, jwt_edge.client(bob) as b, \
            jwt_edge.client(owner) as admin:
        batch = (await _submit(a, ["What is the private roadmap?"] * 3)).json()
        for r in (await b.get(f"/v1/batches/{batch['id']}"),
                  await b.get(f"/v1/batches/{batch['id']}/results"),
                  await b.post(f"/v1/batches/{batch['id']}/cancel")):
            assert r.status_code == 404, r.text
            assert r.json()["error"]["code"] == "not_found"
            assert "roadmap" not in r.text
        assert (await a.get(f"/v1/batches/{batch['id']}")).json()["status"] != "cancelled"
        assert (await admin.get(f"/v1/batches/{batch['id']}")).status_code == 200


async def test_a_batch_counts_against_the_months_messages(jwt_edge: Edge) -> None:
    tiny = await jwt_edge.tenant("tiny")  # 2 messages a month
    async with jwt_edge.client(tiny) as c:
        r = await _submit(c, ["one", "two", "three"])
        assert r.status_code == 429, r.text
        assert r.json()["error"]["code"] == "quota_exceeded"
        assert "messages_per_month" in r.json()["error"]["message"]
        assert r.headers["retry-after"]
        usage = (await c.get("/v1/usage")).json()
        assert usage["used"].get("messages", 0) == 0, usage  # a refused batch counts nothing
        assert (await _submit(c, ["one", "two"])).status_code == 202
        assert (await c.post("/v1/conversations", json={})).status_code == 201
        r = await _submit(c, ["three"])
        assert r.status_code == 429


async def test_a_batch_must_fit_the_months_tokens(jwt_edge: Edge) -> None:
    few = await jwt_edge.tenant("few_tokens")  # 1 token a month
    async with jwt_edge.client(few) as c:
        r = await _submit(c, ["Summarise the whole of War and Peace for me, please."])
        assert r.status_code == 429, r.text
        assert "tokens_per_month" in r.json()["error"]["message"]


async def test_one_tenant_cannot_queue_without_end(jwt_edge: Edge) -> None:
    greedy = await jwt_edge.tenant("pro")
    async with jwt_edge.client(greedy) as c:
        ids = []
        for _ in range(3):
            r = await _submit(c, ["Write a long story."] * 200)
            assert r.status_code == 202, r.text
            ids.append(r.json()["id"])
        r = await _submit(c, ["One more."] * 200)
        assert r.status_code == 429
        assert r.json()["error"]["code"] == "too_many_batches"
        assert r.headers["retry-after"]
        for bid in ids:
            await c.post(f"/v1/batches/{bid}/cancel")
    # Another tenant's batch is taken meanwhile.
    other = await jwt_edge.tenant("pro")
    async with jwt_edge.client(other) as c:
        assert (await _submit(c, ["hello"])).status_code == 202


def _submitted(age: timedelta, n: int = 0) -> BatchSubmitted:
    return BatchSubmitted(tenant_id="acme", batch_id=f"b{n}", user_id="u", model="local",
                          prompts=("hi",), occurred_at=utcnow() - age)


def test_old_batches_are_evicted_and_the_view_is_bounded() -> None:
    view = BatchView(runtime=None, lookback_s=3600)  # type: ignore[arg-type]
    view.apply(_submitted(timedelta(hours=2), 1))
    view.apply(_submitted(timedelta(minutes=1), 2))
    assert view.get("acme", "b1") is None
    assert view.get("acme", "b2") is not None
    for n in range(3, MAX_BATCHES + 10):
        view.apply(_submitted(timedelta(seconds=1), n))
    assert len(view._batches) == MAX_BATCHES
    assert view.get("acme", f"b{MAX_BATCHES + 9}") is not None
