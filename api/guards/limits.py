"""Plan limits, checked and counted at the edge in one atomic step of the account store,
which every edge replica shares: N allowed means N across all replicas together.

Windows are fixed: a calendar minute (UTC) for requests per user, a calendar month (UTC)
for a tenant's messages and documents. ``Retry-After`` is the time to the window's end.
"""

from __future__ import annotations

import hashlib
import time

from starlette.requests import HTTPConnection

from api.deps import Principal
from api.errors import ApiError
from api.guards.clients import client_address, networks
from api.services import EdgeServices
from kernel.telemetry.metrics import QUOTA_REFUSALS
from schemas.plans import MONTH_TTL_S, Plan, minute_window, month_window

__all__ = ("check_ip", "count", "login_allowed", "login_failed", "minute_window",
           "month_window", "peer", "plan_of")

# Failed logins of one email are counted in windows of this many seconds.
LOGIN_FAILURE_WINDOW_S = 900

def _refuse(limit_name: str, limit: int | None, retry_after: int) -> ApiError:
    QUOTA_REFUSALS.labels(limit_name).inc()
    return ApiError(429, "quota_exceeded" if limit_name.endswith("_per_month")
                    else "rate_limited",
                    f"limit {limit_name} ({limit}) reached; retry in {retry_after}s",
                    headers={"Retry-After": str(retry_after)})


async def plan_of(services: EdgeServices, tenant_id: str) -> tuple[str, Plan]:
    assert services.accounts is not None
    tenant = await services.accounts.get_tenant(tenant_id)
    catalogue = services.settings.plan_catalogue
    name = tenant.plan if tenant is not None else services.settings.default_plan
    return name, catalogue.get(name) or catalogue[services.settings.default_plan]


async def count(services: EdgeServices, principal: Principal, *, messages: int = 0,
                documents: int = 0, tokens: int = 0, web_searches: int = 0) -> None:
    """Count one request of ``principal`` (and its messages or documents) or raise 429.
    ``tokens``: what the request is expected to cost at least (a batch's prompts), which
    must still fit in the month; tokens are counted as answers finish (persistence)."""
    if not principal.metered or services.accounts is None:
        return
    accounts = services.accounts
    _, plan = await plan_of(services, principal.tenant_id)
    if documents and plan.files_per_request is not None and documents > plan.files_per_request:
        raise ApiError(413, "too_many_files", f"limit files_per_request "
                       f"({plan.files_per_request}): {documents} files in one request")
    minute, minute_left = minute_window()
    user_scope = f"user:{principal.tenant_id}:{principal.user_id}"
    if await accounts.consume(user_scope, minute, "requests", plan.requests_per_minute,
                              120) is None:
        raise _refuse("requests_per_minute", plan.requests_per_minute, minute_left)
    month, month_left = month_window()
    tenant_scope = f"tenant:{principal.tenant_id}"
    for name, amount, limit in (("messages", messages, plan.messages_per_month),
                                ("documents", documents, plan.documents_per_month),
                                ("web_searches", web_searches, plan.web_searches_per_month)):
        if amount and await accounts.consume(tenant_scope, month, name, limit, MONTH_TTL_S,
                                             amount) is None:
            raise _refuse(f"{name}_per_month", limit, month_left)
        if amount:
            # Per-user usage for admins: counted, never limited.
            await accounts.consume(user_scope, month, name, None, MONTH_TTL_S, amount)
    if plan.tokens_per_month is not None:
        used = (await accounts.counters(tenant_scope, month)).get("tokens", 0)
        if used >= plan.tokens_per_month or (tokens and used + tokens > plan.tokens_per_month):
            raise _refuse("tokens_per_month", plan.tokens_per_month, month_left)


def peer(services: EdgeServices, conn: HTTPConnection) -> str:
    """The client's address, as far as the trusted proxies (TRUSTED_PROXIES) vouch."""
    return client_address(conn, networks(services.settings.trusted_proxies))


def _email_scope(email: str) -> str:
    # A digest: counters are listed and logged by operators, emails need not be.
    return "login-email:" + hashlib.sha256(email.encode()).hexdigest()[:32]


def _failure_window() -> tuple[str, int]:
    now = time.time()
    return (f"l{int(now // LOGIN_FAILURE_WINDOW_S)}",
            max(1, LOGIN_FAILURE_WINDOW_S - int(now % LOGIN_FAILURE_WINDOW_S)))


async def login_allowed(services: EdgeServices, ip: str, email: str) -> None:
    """429 when this address tried too often this minute, or this email failed too
    often this window; checked before any hashing is spent."""
    if services.accounts is None:
        return
    settings = services.settings
    minute, left = minute_window()
    if await services.accounts.consume(f"login-ip:{ip}", minute, "attempts",
                                       settings.login_attempts_per_minute, 120) is None:
        raise _refuse("login_attempts_per_minute", settings.login_attempts_per_minute, left)
    window, window_left = _failure_window()
    failures = (await services.accounts.counters(_email_scope(email), window)).get(
        "failures", 0)
    if failures >= settings.login_failures_per_email:
        raise _refuse("login_failures_per_email", settings.login_failures_per_email,
                      window_left)


async def login_failed(services: EdgeServices, email: str) -> None:
    if services.accounts is not None:
        window, _ = _failure_window()
        await services.accounts.consume(_email_scope(email), window, "failures", None,
                                        2 * LOGIN_FAILURE_WINDOW_S)


async def check_ip(services: EdgeServices, ip: str) -> None:
    """Public (unauthenticated) reads: limited per client IP per minute."""
    if services.accounts is None:
        return
    minute, left = minute_window()
    limit = services.settings.public_requests_per_minute
    if await services.accounts.consume(f"ip:{ip}", minute, "public", limit, 120) is None:
        raise _refuse("public_requests_per_minute", limit, left)
