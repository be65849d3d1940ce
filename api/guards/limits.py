"""Plan limits, checked and taken at the edge in one atomic step of the account store,
which every edge replica shares: N allowed means N across all replicas together.

Requests, messages, documents, web searches and tokens are spent from quota leases
(:mod:`stores.accounts.leases`): a block of units taken with one conditional write and
spent here, so a limit costs a conditional write per block rather than per request,
and still holds exactly (leased units count as spent). Login failures are taken from
the store one at a time, before the password is hashed.

Windows are fixed: a calendar minute (UTC) for requests per user, a calendar month (UTC)
for a tenant's messages, documents, web searches and tokens. ``Retry-After`` is the time
to the window's end. Every function here is plain (no FastAPI dependency), so routes of
any kind can call them.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

from starlette.requests import HTTPConnection

from api.deps import Principal
from api.errors import ApiError
from api.guards.clients import client_address, networks
from api.services import EdgeServices
from kernel.telemetry.metrics import QUOTA_REFUSALS
from schemas.plans import MONTH_TTL_S, Plan, minute_window, month_window
from stores.accounts.leases import QuotaLeases

__all__ = ("Spent", "check_ip", "count", "login_allowed", "login_succeeded", "minute_window",
           "month_window", "peer", "plan_of", "usage_of")

# Failed logins of one email are counted in windows of this many seconds.
LOGIN_FAILURE_WINDOW_S = 900
_MINUTE_TTL_S = 120


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


@dataclass
class Spent:
    """What one request took from the leases, to put back if the request then fails
    (the request itself stays counted against the minute)."""

    leases: QuotaLeases | None = None
    units: list[tuple[str, str, str, int]] = field(default_factory=list)

    def put_back(self) -> None:
        if self.leases is not None:
            for scope, window, name, amount in self.units:
                self.leases.put_back(scope, window, name, amount)
        self.units.clear()


async def count(services: EdgeServices, principal: Principal, *, messages: int = 0,
                documents: int = 0, tokens: int = 0, spend_tokens: int = 0,
                web_searches: int = 0) -> Spent:
    """Count one request of ``principal`` (and its messages, documents, web searches) or
    raise 429, taking nothing more when one limit refuses. ``spend_tokens``: tokens the
    request costs now (embeddings), taken against the month in the same step;
    ``tokens``: what it is expected to cost at least later (a batch's prompts), which
    must still fit (answers' tokens are counted as they finish, by persistence)."""
    if not principal.metered or services.accounts is None:
        return Spent()
    leases = services.leases
    assert leases is not None, "an edge with accounts has quota leases"
    _, plan = await plan_of(services, principal.tenant_id)
    if documents and plan.files_per_request is not None and documents > plan.files_per_request:
        raise ApiError(413, "too_many_files", f"limit files_per_request "
                       f"({plan.files_per_request}): {documents} files in one request")
    minute, minute_left = minute_window()
    user_scope = f"user:{principal.tenant_id}:{principal.user_id}"
    if not await leases.take(user_scope, minute, "requests", plan.requests_per_minute,
                             _MINUTE_TTL_S, minute_left):
        raise _refuse("requests_per_minute", plan.requests_per_minute, minute_left)
    month, month_left = month_window()
    tenant_scope = f"tenant:{principal.tenant_id}"
    spent = Spent(leases)
    for name, amount, limit in (("messages", messages, plan.messages_per_month),
                                ("documents", documents, plan.documents_per_month),
                                ("web_searches", web_searches, plan.web_searches_per_month),
                                ("tokens", spend_tokens, plan.tokens_per_month)):
        if not amount:
            continue
        if not await leases.take(tenant_scope, month, name, limit, MONTH_TTL_S, month_left,
                                 amount):
            spent.put_back()
            raise _refuse(f"{name}_per_month", limit, month_left)
        spent.units.append((tenant_scope, month, name, amount))
        # Per-user usage for admins: counted, never limited.
        await leases.take(user_scope, month, name, None, MONTH_TTL_S, month_left, amount)
        spent.units.append((user_scope, month, name, amount))
    # Only a request that leads to answers is refused for the month's tokens: creating a
    # key, a user, a conversation or a document spends none, and the tenant's owners
    # still administer it (and upgrade its plan) once the answers have spent them.
    if plan.tokens_per_month is not None and not spend_tokens and (messages or tokens):
        used = (await services.accounts.counters(tenant_scope, month)).get("tokens", 0)
        if used >= plan.tokens_per_month or (tokens and used + tokens > plan.tokens_per_month):
            spent.put_back()
            raise _refuse("tokens_per_month", plan.tokens_per_month, month_left)
    return spent


async def usage_of(services: EdgeServices, scope: str, window: str) -> dict[str, int]:
    """A scope's counters in a window as spent through this edge and written by the
    others: without the units this edge holds unspent, with what it has not written yet
    (another edge's unspent units still show, and its unwritten tally does not, until
    its lease ends)."""
    assert services.accounts is not None
    used = await services.accounts.counters(scope, window)
    if services.leases is not None:
        for name, off in services.leases.unsettled(scope, window).items():
            used[name] = used.get(name, 0) + off
    return {name: n for name, n in used.items() if n}


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
    """429 when this address tried too often this minute, or this email has no
    attempt left this window. The attempt is taken from the email's failures before any
    hashing, in one step (so parallel guesses cannot all pass a count read before any
    was written); :func:`login_succeeded` gives it back."""
    if services.accounts is None:
        return
    settings = services.settings
    minute, left = minute_window()
    if await services.accounts.consume(f"login-ip:{ip}", minute, "attempts",
                                       settings.login_attempts_per_minute,
                                       _MINUTE_TTL_S) is None:
        raise _refuse("login_attempts_per_minute", settings.login_attempts_per_minute, left)
    window, window_left = _failure_window()
    if await services.accounts.consume(_email_scope(email), window, "failures",
                                       settings.login_failures_per_email,
                                       2 * LOGIN_FAILURE_WINDOW_S) is None:
        raise _refuse("login_failures_per_email", settings.login_failures_per_email,
                      window_left)


async def login_succeeded(services: EdgeServices, email: str) -> None:
    """The attempt :func:`login_allowed` took was not a failure: give it back."""
    if services.accounts is not None:
        window, _ = _failure_window()
        await services.accounts.consume(_email_scope(email), window, "failures", None,
                                        2 * LOGIN_FAILURE_WINDOW_S, -1)


async def check_ip(services: EdgeServices, ip: str) -> None:
    """Public (unauthenticated) reads: limited per client IP per minute."""
    if services.accounts is None:
        return
    minute, left = minute_window()
    limit = services.settings.public_requests_per_minute
    if await services.accounts.consume(f"ip:{ip}", minute, "public", limit,
                                       _MINUTE_TTL_S) is None:
        raise _refuse("public_requests_per_minute", limit, left)
