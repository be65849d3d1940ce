"""Debian's Chromium, headless, driven by Playwright (never `playwright install`):
``make browser`` installs it with apt."""

from __future__ import annotations

import shutil
from pathlib import Path

from playwright.async_api import Browser, Playwright

__all__ = ("ARGS", "CHROMIUM", "executable", "launch")

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic")


def executable() -> str:
    found = shutil.which("chromium") or (str(CHROMIUM) if CHROMIUM.exists() else None)
    assert found, "Chromium is missing: run `make browser` (apt-get install chromium)"
    return found


async def launch(playwright: Playwright) -> Browser:
    return await playwright.chromium.launch(executable_path=executable(), headless=True,
                                            args=list(ARGS))
