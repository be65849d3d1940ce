"""Helpers of the tenancy tests: bootstrapping users (the CLI's own function, or the CLI
itself), and logging in."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import subprocess
import sys
from unittest import mock

import httpx

from chatstream import bootstrap as cli_bootstrap
from kernel.settings import Settings

__all__ = ("JWT_ENV", "bootstrap", "login")

# Random-looking, as a deployment's is: a secret of low entropy is refused at start.
SECRET = "e2e-jwt-9f3c1a7be2d84c06a5f1e3b79d20c8a4-5e6b1d7f"
JWT_ENV = {
    "CHATSTREAM_AUTH": "jwt",
    "CHATSTREAM_JWT_SECRET": SECRET,
    "CHATSTREAM_CREDENTIALS_KEY": "POso4t2yz8O87juIbY7Adnns9odMm3i93Ye0mCL7xPQ=",
    "CHATSTREAM_PLANS": '{"tiny": {"messages_per_month": 2}, '
                        '"burst": {"requests_per_minute": 5}, '
                        '"few_tokens": {"tokens_per_month": 1}, '
                        '"tokens400": {"tokens_per_month": 400}}',
    # Every test signs in from the same loopback address, more than 20 times a minute on a
    # fast run: the per-address login throttle (its own tests are in tests/security, with
    # a small limit) must not refuse the suite's own sign-ins.
    "CHATSTREAM_LOGIN_ATTEMPTS_PER_MINUTE": "1000",
}


def bootstrap(env: dict[str, str], tenant: str, email: str, password: str,
              plan: str = "free", role: str = "owner", *, cli: bool = False) -> None:
    """What ``chatstream bootstrap`` does with ``env`` as its environment: in this process
    (a subprocess costs seconds of imports), or, with ``cli``, the command itself."""
    if cli:
        _bootstrap_cli(env, tenant, email, password, plan, role)
        return
    # Settings read exactly ``env`` (and .env in the cwd), as the command's process would.
    with mock.patch.dict(os.environ, env, clear=True):
        settings = Settings()
    # A loop of its own in a thread: callers may be inside the test's running loop.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, cli_bootstrap.bootstrap(settings, tenant, email, password,
                                                         plan, role)).result(timeout=120)


def _bootstrap_cli(env: dict[str, str], tenant: str, email: str, password: str,
                   plan: str, role: str) -> None:
    done = subprocess.run([sys.executable, "-m", "chatstream.cli", "bootstrap", "--tenant",
                           tenant, "--email", email, "--plan", plan, "--role", role],
                          input=password + "\n", env=env, capture_output=True, text=True,
                          timeout=120)
    # Say why: a bare CalledProcessError hides the command's own message.
    assert done.returncode == 0, f"bootstrap {email} failed: {done.stderr or done.stdout}"


async def login(base: str, email: str, password: str) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as c:
        r = await c.post("/v1/auth/token", json={"email": email, "password": password})
        assert r.status_code == 200, r.text
        tokens: dict[str, str] = r.json()
        return tokens
