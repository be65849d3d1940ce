"""Running chatstream commands as real subprocesses, the way an operator would."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ("ChatstreamProcess", "start_together", "stop_together")

_URL = re.compile(r"listening on (http://\S+)")


class ChatstreamProcess:
    """``chatstream ARGS`` with its output captured; ``url`` once the edge listens."""

    def __init__(self, args: Sequence[str], env: dict[str, str], log_path: Path,
                 ready: str = "listening on", program: Sequence[str] | None = None) -> None:
        self.args = list(args)
        # Another launcher of chatstream processes (deploy/local/cluster.py) instead.
        self._program = list(program or [sys.executable, "-m", "chatstream.cli"])
        self.log_path = log_path
        self.url: str | None = None
        self._ready = ready
        self._seen = threading.Event()
        self._env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.proc: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 120.0) -> ChatstreamProcess:
        return self.launch().ready(timeout)

    def launch(self) -> ChatstreamProcess:
        """Start the process without waiting for it: several start-ups then overlap
        (``start_together``)."""
        self.proc = subprocess.Popen(
            [*self._program, *self.args],
            env=self._env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self._pumper = threading.Thread(target=self._pump, daemon=True)
        self._pumper.start()
        return self

    def ready(self, timeout: float = 120.0) -> ChatstreamProcess:
        """Wait until the process says it is ready; stopped and reported if it does not."""
        assert self.proc is not None, "launch() first"
        if not self._seen.wait(timeout):
            self.stop()
            raise AssertionError(f"`chatstream {' '.join(self.args)}` not ready in "
                                 f"{timeout}s; log:\n{self.tail()}")
        if self.proc.poll() is not None:
            raise AssertionError(f"`chatstream {' '.join(self.args)}` exited; log:\n{self.tail()}")
        return self

    def _pump(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        with self.log_path.open("a") as out:
            for line in self.proc.stdout:
                out.write(line)
                out.flush()
                m = _URL.search(line)
                if m:
                    self.url = m.group(1).rstrip("/")
                if self._ready in line:
                    self._seen.set()
        self._seen.set()  # exited: let start() report it

    def tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text().splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def cpu_seconds(self) -> float:
        """User + system CPU time the process has used so far (Linux /proc)."""
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log_lines(self) -> int:
        try:
            with self.log_path.open("rb") as f:
                return sum(1 for _ in f)
        except OSError:
            return 0

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
        self.stop()

    def terminate(self) -> None:
        """Ask the process to stop (SIGTERM) without waiting for it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.terminate()
            deadline = time.monotonic() + timeout
            while self.proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            if self.proc.poll() is None:
                self.proc.kill()
        code = self.proc.wait(10)
        self._pumper.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return code


def start_together(processes: Sequence[ChatstreamProcess],
                   timeout: float = 180.0) -> list[ChatstreamProcess]:
    """Start ``processes`` with their start-ups overlapping: the first alone (it creates
    the topics, the keyspace and its tables, so the others do not race on schema
    changes; deploy/local/cluster.py starts its children the same way), then the rest at
    once. If one is not ready, all are stopped and the failure is raised."""
    started: list[ChatstreamProcess] = []
    try:
        if processes:
            started.append(processes[0].start(timeout))
        rest = list(processes[1:])
        for p in rest:
            started.append(p.launch())
        for p in rest:
            p.ready(timeout)
    except BaseException:
        for p in reversed(started):
            p.stop()
        raise
    return started


def stop_together(processes: Sequence[ChatstreamProcess], timeout: float = 30.0) -> None:
    """Stop ``processes`` with their shutdowns overlapping: all are asked at once, then
    each is waited for (and killed after ``timeout``)."""
    for p in processes:
        p.terminate()
    for p in processes:
        p.stop(timeout)
