"""Paths, settings from the environment and small helpers the launcher shares."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import string
import threading
from collections import deque
from collections.abc import Iterator
from pathlib import Path

# deploy/local: the templates of each server live under it.
HERE = Path(__file__).resolve().parents[1]
NAMES = ("kafka", "cassandra", "weaviate")
HOST = "127.0.0.1"
LOG_TAIL_LINES = 40




def env_str(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def env_port(name: str, default: int) -> int:
    raw = env_str(name, str(default))
    try:
        port = int(raw)
    except ValueError:
        raise SystemExit(f"{name}={raw!r} is not a port number") from None
    if not 0 < port < 65536:
        raise SystemExit(f"{name}={port} is out of range")
    return port


def cache_dir() -> Path:
    return Path(env_str("CHATSTREAM_CACHE_DIR", "~/.cache/chatstream")).expanduser().resolve()



_print_lock = threading.Lock()


def say(msg: str) -> None:
    with _print_lock:
        print(msg, flush=True)


def tail(path: Path, lines: int = LOG_TAIL_LINES, offset: int = 0) -> str:
    """Last `lines` lines of `path`, from byte `offset` on (0: the whole file)."""
    try:
        with open(path, "rb") as fh:
            if 0 < offset <= path.stat().st_size:
                fh.seek(offset)
            return b"".join(deque(fh, maxlen=lines)).decode("utf-8", "replace")
    except OSError as exc:
        return f"(cannot read {path}: {exc})\n"


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Serialise two launchers working on the same server (held during start/stop)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def render(template: Path, target: Path, **values: object) -> None:
    text = string.Template(template.read_text()).substitute({k: str(v) for k, v in values.items()})
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(target)


def java_bin() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if not found:
        raise StartError("java not found (install a JDK 17 or set JAVA_HOME)")
    return found


class StartError(Exception):
    """A server could not be started; the message says why."""


