"""Start and stop: launch detached, wait until ready, terminate, in parallel."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from launcher.commands import cassandra_command, kafka_command, weaviate_command
from launcher.common import LOG_TAIL_LINES, StartError, file_lock, file_size, say, tail
from launcher.fetching import ensure_weaviate_binary, fetch_jars
from launcher.procs import cmdline, pid_alive, pids_listening_on, port_listening
from launcher.service import Service


@dataclass
class Result:
    name: str
    ok: bool
    state: str
    seconds: float
    detail: str = ""


def wait_ready(svc: Service, proc: subprocess.Popen | None, pid: int, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        info = svc.healthy()
        if info is not None:
            return info
        if proc is not None and proc.poll() is not None:
            raise StartError(f"{svc.name} exited with code {proc.returncode} before it was ready")
        if proc is None and not pid_alive(pid):
            raise StartError(f"{svc.name} (pid {pid}) exited before it was ready")
        if time.monotonic() > deadline:
            raise StartError(f"{svc.name} not ready after {timeout:.0f} s")
        time.sleep(0.5)


def start_one(svc: Service) -> Result:
    t0 = time.monotonic()
    with file_lock(svc.cache / "run" / f"{svc.name}.lock"):
        info = svc.healthy()
        if info is not None:
            return Result(svc.name, True, "reused", time.monotonic() - t0, info)
        pid = svc.pidfile_pid()
        if pid:  # ours, alive, not (yet) healthy: another launcher may be starting it
            say(f"{svc.name:<10} pid {pid} is running but not ready yet; waiting")
            info = wait_ready(svc, None, pid, svc.ready_timeout)
            return Result(svc.name, True, "reused", time.monotonic() - t0, info)
        busy = {port: owner for owner, port in pids_listening_on(svc.ports).items()}
        busy_unknown = [p for p in svc.ports if port_listening(p) and p not in busy]
        if busy or busy_unknown:
            owners = ", ".join(
                [
                    f"{port} by pid {owner} ({' '.join(cmdline(owner))[:120]})"
                    for port, owner in busy.items()
                ]
                + [f"{p} (owner unknown)" for p in busy_unknown]
            )
            raise StartError(
                f"{svc.name}: port(s) in use but the server does not answer: {owners}. "
                f"Stop that process or choose other ports (see deploy/local/README.md)"
            )

        # artifacts (skip-if-present with a version stamp)
        if svc.name == "kafka":
            fetch_jars(svc, "kafka.version")
        elif svc.name == "cassandra":
            fetch_jars(svc, "cassandra.version")
        else:
            ensure_weaviate_binary(svc)
        t_launch = time.monotonic()

        svc.log_dir.mkdir(parents=True, exist_ok=True)
        svc.pid_file.parent.mkdir(parents=True, exist_ok=True)
        svc.home.mkdir(parents=True, exist_ok=True)
        env = None
        if svc.name == "kafka":
            cmd = kafka_command(svc)
        elif svc.name == "cassandra":
            cmd = cassandra_command(svc)
        else:
            cmd, env = weaviate_command(svc)
        svc.extra["log_offsets"] = {svc.log_path: file_size(svc.log_path)}
        with open(svc.stdout_path, "ab") as out:
            svc.extra["log_offsets"][svc.stdout_path] = file_size(svc.stdout_path)
            out.write(
                f"\n===== {time.strftime('%Y-%m-%d %H:%M:%S')} services.py start {svc.name} "
                f"{svc.version}\n".encode()
            )
            out.flush()
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=svc.home,
                env=env,
                start_new_session=True,
                close_fds=True,
            )
        svc.pid_file.write_text(f"{proc.pid}\n")
        try:
            info = wait_ready(svc, proc, proc.pid, svc.ready_timeout)
        except StartError:
            _terminate({proc.pid}, 10)
            svc.pid_file.unlink(missing_ok=True)
            raise
        return Result(
            svc.name,
            True,
            "started",
            time.monotonic() - t0,
            f"{info}, pid {proc.pid}, ready {time.monotonic() - t_launch:.1f}s after launch",
        )


def _terminate(pids: set[int], timeout: float) -> set[int]:
    """SIGTERM (process group), wait, SIGKILL. Returns the pids that had to be killed."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.getpgid(pid) == pid:
                os.killpg(pid, signal.SIGTERM)
            else:
                os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
        time.sleep(0.2)
    killed = {p for p in pids if pid_alive(p)}
    for pid in killed:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.getpgid(pid) == pid:
                os.killpg(pid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(pid_alive(p) for p in killed):
        time.sleep(0.1)
    return killed


def stop_one(svc: Service) -> Result:
    t0 = time.monotonic()
    with file_lock(svc.cache / "run" / f"{svc.name}.lock"):
        ours, foreign = svc.find_pids()
        if not ours:
            svc.pid_file.unlink(missing_ok=True)
            detail = "".join(
                f"; port {port} is held by pid {pid} ({' '.join(cmdline(pid))[:80]}), not ours"
                for pid, port in foreign.items()
            )
            return Result(
                svc.name, not foreign, "down", time.monotonic() - t0, "was not running" + detail
            )
        killed = _terminate(ours, svc.stop_timeout)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(port_listening(p) for p in svc.ports):
            time.sleep(0.2)
        left = [p for p in svc.ports if port_listening(p)]
        alive = [p for p in ours if pid_alive(p)]
        svc.pid_file.unlink(missing_ok=True)
        detail = f"pid {', '.join(map(str, sorted(ours)))}" + (
            " (SIGKILL needed)" if killed else ""
        )
        if alive or left:
            return Result(
                svc.name,
                False,
                "stuck",
                time.monotonic() - t0,
                f"{detail}; still alive: {alive}, ports still listening: {left}",
            )
        return Result(svc.name, True, "stopped", time.monotonic() - t0, detail)


def run_parallel(fn: Callable[[Service], Result], svcs: list[Service]) -> list[Result]:
    results: dict[str, Result] = {}

    def worker(svc: Service) -> None:
        t0 = time.monotonic()
        try:
            res = fn(svc)
        except StartError as exc:
            res = Result(svc.name, False, "FAILED", time.monotonic() - t0, str(exc))
        except Exception as exc:
            res = Result(
                svc.name, False, "FAILED", time.monotonic() - t0, f"{type(exc).__name__}: {exc}"
            )
        results[svc.name] = res
        line = (
            f"{res.name:<10} {res.state:<8} {svc.address:<28} log={svc.log_path}  "
            f"{res.seconds:6.1f}s"
        )
        if res.ok:
            say(f"{line}  ({res.detail})" if res.detail else line)
        else:
            msg = [line, f"  error: {res.detail}"]
            # the logs as written since this launch (whole tail when nothing new was written)
            offsets: dict[Path, int] = svc.extra.get("log_offsets", {})  # type: ignore[assignment]
            for path in dict.fromkeys([svc.stdout_path, svc.log_path]):
                offset, size = offsets.get(path, 0), file_size(path)
                if size == offset:
                    if size:
                        msg.append(f"  ---- {path}: nothing written since the launch ----")
                    continue
                if size < offset:  # rotated meanwhile
                    offset = 0
                if size:
                    msg.append(f"  ---- last {LOG_TAIL_LINES} lines of {path} ----")
                    msg.append(tail(path, offset=offset).rstrip("\n"))
            say("\n".join(msg))

    threads = [threading.Thread(target=worker, args=(svc,), name=svc.name) for svc in svcs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [results[svc.name] for svc in svcs]


