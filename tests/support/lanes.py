"""Shell commands run side by side, each into a file of its own: the lanes of ``make test``
and ``make check`` (the Makefile names them).

``python -m tests.support.lanes NAME=COMMAND ...`` starts every command at once, prints
each lane's progress (pytest's percentage) every minute and when a lane ends, then each
lane's output in full, and fails if any lane failed. Lanes pay where tests wait: the tests
on the real servers spend most of their time waiting for them and for the stacks they
start, the rest mostly compute, so run side by side one's waits are the other's CPU.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

__all__ = ("main",)

# pytest's progress column: "[ 42%]" at the end of a line of results.
_PERCENT = re.compile(rb"\[\s*(\d+)%\]")


def _progress(path: Path) -> str:
    found = _PERCENT.findall(path.read_bytes()[-4096:])
    return f"{int(found[-1])}%" if found else "running"


def _stopped(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # the lanes are stopped on the way out


def main(argv: list[str]) -> int:
    lanes = dict(arg.split("=", 1) for arg in argv)
    signal.signal(signal.SIGTERM, _stopped)  # a cancelled CI job stops its lanes too
    started = time.monotonic()
    out = Path(tempfile.mkdtemp(prefix="chatstream-lanes-"))
    running: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
    codes: dict[str, int] = {}
    try:
        for name, command in lanes.items():
            log = out / f"{name}.log"
            with log.open("wb") as sink:
                # A session of its own: stopping a lane stops all its processes.
                running[name] = (subprocess.Popen(
                    command, shell=True, stdout=sink, stderr=subprocess.STDOUT,
                    start_new_session=True), log)
        print(f"lanes {', '.join(lanes)} at once, their output in {out}/", flush=True)
        report = started + 60
        while len(codes) < len(running):
            time.sleep(0.2)
            ended = {name: p.returncode for name, (p, _) in running.items()
                     if name not in codes and p.poll() is not None}
            codes |= ended
            if ended or time.monotonic() >= report:
                report = time.monotonic() + 60
                print(f"  {time.monotonic() - started:6.0f} s: " + ", ".join(
                    f"{name} " + (f"exit {codes[name]}" if name in codes else _progress(log))
                    for name, (_, log) in running.items()), flush=True)
    finally:
        for process, _ in running.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait()
    for name, (_, log) in running.items():
        print(f"\n===== {name}: {lanes[name]}\n", flush=True)
        sys.stdout.buffer.write(log.read_bytes())
        sys.stdout.flush()
    failed = [name for name, code in codes.items() if code != 0]
    print(f"\n{len(lanes)} lanes in {time.monotonic() - started:.0f} s: "
          + (f"FAILED: {', '.join(failed)}" if failed else "all passed"), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
