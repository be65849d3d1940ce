"""#26 row 14: an email is unique per tenant, not across tenants. Another tenant's
admin cannot claim (or find out about) an address by creating it first, and a person
who is a user of two tenants signs in to the one they name."""

from __future__ import annotations

import uuid

import httpx

from tests.security.support import PASSWORD, Edge


async def _login(edge: Edge, email: str, password: str,
                 tenant: str | None = None) -> httpx.Response:
    body = {"email": email, "password": password} | ({"tenant": tenant} if tenant else {})
    async with edge.client() as c:
        return await c.post("/v1/auth/token", json=body)


async def _tenant_of(edge: Edge, token: str) -> str:
    async with edge.client(Authorization=f"Bearer {token}") as c:
        tenant: str = (await c.get("/v1/me")).json()["tenant_id"]
        return tenant


async def test_another_tenant_may_have_a_user_with_the_same_email(jwt_edge: Edge) -> None:
    email = f"shared-{uuid.uuid4().hex[:6]}@example.org"
    await jwt_edge.member(email, "owner@acme.io")
    await jwt_edge.login("owner@beta.io")
    async with jwt_edge.client("owner@beta.io") as beta:
        r = await beta.post("/v1/admin/users",
                            json={"email": email, "password": "beta-password-2211"})
        assert r.status_code == 201, r.text
        # Unique within a tenant still.
        again = await beta.post("/v1/admin/users",
                                json={"email": email.upper(), "password": "x" * 12})
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "email_taken"
    # Each password opens its own tenant's account, without naming it.
    acme = await _login(jwt_edge, email, PASSWORD)
    assert acme.status_code == 200, acme.text
    assert await _tenant_of(jwt_edge, acme.json()["access_token"]) == "acme"
    beta_login = await _login(jwt_edge, email, "beta-password-2211")
    assert beta_login.status_code == 200, beta_login.text
    assert await _tenant_of(jwt_edge, beta_login.json()["access_token"]) == "beta"
    wrong = await _login(jwt_edge, email, "neither-password")
    assert wrong.status_code == 401


async def test_one_password_for_two_tenants_must_name_one(jwt_edge: Edge) -> None:
    email = f"both-{uuid.uuid4().hex[:6]}@example.org"
    await jwt_edge.member(email, "owner@acme.io")
    await jwt_edge.login("owner@beta.io")
    async with jwt_edge.client("owner@beta.io") as beta:
        r = await beta.post("/v1/admin/users", json={"email": email, "password": PASSWORD})
        assert r.status_code == 201, r.text
    ambiguous = await _login(jwt_edge, email, PASSWORD)
    assert ambiguous.status_code == 409
    assert ambiguous.json()["error"]["code"] == "tenant_required"
    assert "access_token" not in ambiguous.text
    for tenant in ("acme", "beta"):
        named = await _login(jwt_edge, email, PASSWORD, tenant)
        assert named.status_code == 200, named.text
        assert await _tenant_of(jwt_edge, named.json()["access_token"]) == tenant
    # Naming a tenant the address is not a user of is a plain wrong login.
    assert (await _login(jwt_edge, email, PASSWORD, "nowhere")).status_code == 401
