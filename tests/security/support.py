"""Starting the security tests' edges and acting as their users."""

from __future__ import annotations

import itertools
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from harness.process import ChatstreamProcess
from tests.tenancy.support import JWT_ENV, bootstrap

__all__ = ("METRICS_TOKEN", "PASSWORD", "Edge", "client_ip", "edge_env", "start_dev_edge",
           "start_jwt_edge")

PASSWORD = "correct-horse-battery-41"
METRICS_TOKEN = "operator-metrics-token-0123456789"
# The edge believes X-Forwarded-For from loopback (the tests are its "proxy"), so each
# test can come from an address of its own and throttles do not mix between tests.
_ips = (f"198.51.100.{i}" for i in itertools.count(1))


def edge_env(tmp: Path, **extra: str) -> dict[str, str]:
    """The settings of an embedded `chatstream up` of its own under ``tmp``."""
    # The extractive model answers, whether or not `make llm` installed the language model.
    return {"CHATSTREAM_DATA_DIR": str(tmp / "data"), "CHATSTREAM_LOCAL_MODEL_DELAY_MS": "3",
            "CHATSTREAM_DEFAULT_MODEL": "extractive",
            "CHATSTREAM_WORKER_PORT": "0", "CHATSTREAM_LAG_INTERVAL_S": "0", **extra}


def client_ip() -> str:
    return next(_ips)


@dataclass
class Edge:
    url: str
    env: dict[str, str]
    process: ChatstreamProcess
    tokens: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        self.process.stop(30)

    def client(self, who: str | None = None, **headers: str) -> httpx.AsyncClient:
        """A client as ``who`` (an email bootstrapped or created), from an address of
        its own unless ``X-Forwarded-For`` is given."""
        if who is not None:
            headers["Authorization"] = f"Bearer {self.tokens[who]}"
        headers.setdefault("X-Forwarded-For", client_ip())
        return httpx.AsyncClient(base_url=self.url, timeout=60, headers=headers)

    async def member(self, email: str, owner: str = "owner@acme.io") -> str:
        """A member of the owner's tenant, created (once) and logged in."""
        if owner not in self.tokens:
            await self.login(owner)
        async with self.client(owner) as c:
            r = await c.post("/v1/admin/users", json={"email": email, "password": PASSWORD})
            assert r.status_code in (201, 409), r.text
        return await self.login(email)

    async def tenant(self, plan: str) -> str:
        """A tenant of its own on ``plan``, its owner logged in; the owner's email."""
        name = f"t{uuid.uuid4().hex[:8]}"
        email = f"owner@{name}.io"
        bootstrap({**os.environ, **self.env}, name, email, PASSWORD, plan=plan)
        await self.login(email)
        return email

    async def login(self, email: str, password: str = PASSWORD) -> str:
        async with self.client() as c:
            r = await c.post("/v1/auth/token", json={"email": email, "password": password})
            assert r.status_code == 200, r.text
            self.tokens[email] = r.json()["access_token"]
            return self.tokens[email]


def start_dev_edge(tmp: Path, **extra: str) -> Edge:
    env = edge_env(tmp, **extra)
    up = ChatstreamProcess(["up", "--port", "0"], env, tmp / "up.log").start()
    assert up.url
    return Edge(up.url, env, up)


def start_jwt_edge(tmp: Path, **extra: str) -> Edge:
    """Tenants ``acme`` (an owner and, created by tests, members) and ``beta``."""
    env = {**edge_env(tmp), **JWT_ENV, "CHATSTREAM_TRUSTED_PROXIES": '["127.0.0.1"]',
           "CHATSTREAM_METRICS_TOKEN": METRICS_TOKEN,
           # Small limits, so the attacks reach them in a few requests.
           "CHATSTREAM_LOGIN_ATTEMPTS_PER_MINUTE": "8",
           "CHATSTREAM_PUBLIC_REQUESTS_PER_MINUTE": "5",
           "CHATSTREAM_PASSWORD_HASH_QUEUE": "4", **extra}
    up = ChatstreamProcess(["up", "--port", "0"], env, tmp / "up.log").start()
    assert up.url
    edge = Edge(up.url, env, up)
    cli_env = {**os.environ, **env}
    bootstrap(cli_env, "acme", "owner@acme.io", PASSWORD)
    bootstrap(cli_env, "beta", "owner@beta.io", PASSWORD)
    return edge
