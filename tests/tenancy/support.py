"""Helpers of the tenancy tests: bootstrapping users with the real CLI, and logging in."""

from __future__ import annotations

import subprocess
import sys

import httpx

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
              plan: str = "free", role: str = "owner") -> None:
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
