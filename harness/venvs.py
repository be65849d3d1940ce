"""Virtual environments of their own, for programs whose dependencies cannot share
chatstream's: LiteLLM's proxy in the benchmarks (its pins differ), the OpenAI Agents SDK in
the client tests (its top-level module is ``agents``, the stages' package). Each is built
from a requirements file of the project with exact versions, under the cache directory
($CHATSTREAM_CACHE_DIR, default ``~/.cache/chatstream``), so every checkout of the machine
shares it; it is rebuilt only when that file or the Python version changes.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

__all__ = ("CACHE", "ensure_venv")

CACHE = Path(os.environ.get("CHATSTREAM_CACHE_DIR", "~/.cache/chatstream")).expanduser()
STAMP = ".requirements"


def ensure_venv(requirements: Path, name: str) -> Path:
    """The directory of the virtualenv ``name`` with exactly ``requirements`` installed:
    built from PyPI when missing or out of date (a minute or two), otherwise returned at
    once. Safe when several processes ask at the same time (they wait for one build)."""
    venv = CACHE / name
    wanted = f"# {sys.version}\n{requirements.read_text()}"
    stamp = venv / STAMP
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_text() == wanted:
            return venv
        print(f"installing {requirements.name} into {venv}", file=sys.stderr, flush=True)
        # From scratch: what an older file installed and this one no longer names goes.
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(venv / "bin/pip"), "install", "-q", "--disable-pip-version-check",
                        "-r", str(requirements)], check=True)
        stamp.write_text(wanted)
    return venv
