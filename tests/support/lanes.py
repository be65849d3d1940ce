"""``make test``: the whole suite as two pytest processes at once.

The tests on the real servers (Kafka, Cassandra, Weaviate) spend most of their time waiting
for them and for their stacks; the rest (in-process tests, embedded stacks, the browser, the
benchmarks' quick runs) mostly compute. Run one after the other, each leaves a core idle much
of the time; run side by side, one's waits are the other's CPU. The two lanes are the
marker expression and its complement (tests/support/needs.py marks every test), so together
they are exactly the suite; each starts only the stacks its own tests use.

Each lane writes to a file of its own; their progress is printed every minute and their
output in full once both end. The run fails if either lane fails. Arguments are pytest's:
given any (``make test PYTEST_ARGS="-k x"``), one plain pytest run with them, no lanes.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ("LANES", "main")

SERVERS = "kafka or cassandra or weaviate"
LANES = {"servers": SERVERS, "rest": f"not ({SERVERS})"}
# pytest's progress column: "[ 42%]" at the end of a line of results.
_PERCENT = re.compile(rb"\[\s*(\d+)%\]")


def _progress(path: Path) -> str:
    found = _PERCENT.findall(path.read_bytes()[-4096:])
    return f"{int(found[-1])}%" if found else "starting"


def main(args: list[str]) -> int:
    pytest = [sys.executable, "-m", "pytest"]
    if args:
        return subprocess.call([*pytest, *args])
    started = time.monotonic()
    out = Path(tempfile.mkdtemp(prefix="chatstream-lanes-"))
    running: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
    codes: dict[str, int] = {}
    try:
        for name, expression in LANES.items():
            log = out / f"{name}.log"
            with log.open("wb") as sink:
                # No cache plugin: two runs writing .pytest_cache would each overwrite the
                # other's record of failures.
                running[name] = (subprocess.Popen(
                    [*pytest, "-m", expression, "-p", "no:cacheprovider"],
                    stdout=sink, stderr=subprocess.STDOUT), log)
        print(f"make test: lanes {', '.join(LANES)} at once, their output in {out}",
              flush=True)
        report = started + 60
        while len(codes) < len(running):
            time.sleep(1)
            ended = {name: p.returncode for name, (p, _) in running.items()
                     if name not in codes and p.poll() is not None}
            codes |= ended
            if ended or time.monotonic() >= report:
                report = time.monotonic() + 60
                print(f"  {(time.monotonic() - started) / 60:4.1f} min: " + ", ".join(
                    f"{name} " + (f"exit {codes[name]}" if name in codes else _progress(log))
                    for name, (_, log) in running.items()), flush=True)
    finally:
        for process, _ in running.values():
            if process.poll() is None:
                process.terminate()
                process.wait()
    for name, (_, log) in running.items():
        print(f"\n===== lane {name} (pytest -m \"{LANES[name]}\"): exit {codes[name]} =====",
              flush=True)
        sys.stdout.buffer.write(log.read_bytes())
        sys.stdout.flush()
    failed = [name for name, code in codes.items() if code != 0]
    print(f"\nmake test: {len(LANES)} lanes in {(time.monotonic() - started) / 60:.1f} min, "
          + (f"FAILED: {', '.join(failed)}" if failed else "both passed"), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
