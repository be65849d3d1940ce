"""Where a running chatstream spends its CPU: a py-spy sampling profile under load.

Starts the fake model server and `chatstream up` (embedded, or on Kafka + Cassandra), drives
it with N concurrent chat clients, and samples the process with py-spy meanwhile. Prints the
functions with the most samples, by self time (the frame on top of the stack) and by
inclusive time for chatstream's own code, and keeps the collapsed stacks (one line per
stack, for flamegraph tools or speedscope) next to the output.

    python -m bench.profile [--stack kafka] [--streams 64] [--seconds 20] [--out DIR] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import ROOT, Proc, free_port, machine, table
from bench.load import run_load
from bench.overhead import _chatstream
from harness.cleanup import drop_keyspace, drop_topics

OURS = ("schemas/", "streams/", "stores/", "agents/", "api/", "chatstream/")
_FRAME = re.compile(r"^(?P<fn>.*) \((?P<file>[^:()]+)(?::(?P<line>\d+))?\)$")


def _where(frame: str) -> tuple[str, str]:
    """``function (path:line)`` as py-spy writes it -> (function, short path)."""
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip(), ""
    path = m["file"]
    for marker in ("site-packages/", "/lib/python3.11/", str(ROOT) + "/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return m["fn"], path


def summarize(collapsed: Path, top: int) -> tuple[int, list[list[object]], list[list[object]]]:
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_where(f) for f in stack.split(";") if f.strip()]
        if not frames:
            continue
        fn, path = frames[-1]
        own[f"{fn} ({path})"] += n
        for label in {f"{f} ({p})" for f, p in frames if p.startswith(OURS)}:
            inclusive[label] += n

    def rows(c: collections.Counter[str]) -> list[list[object]]:
        return [[label[:110], n, f"{n / total:.1%}"] for label, n in c.most_common(top)]

    return total, rows(own), rows(inclusive)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stack", default="kafka", choices=["kafka", "embedded"])
    parser.add_argument("--streams", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--tokens", type=int, default=50)
    parser.add_argument("--pace-ms", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=100, help="samples per second")
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="embedded, 4 streams, 3 s")
    parser.add_argument("--out", type=Path, default=None,
                        help="keep the collapsed stacks here (default: a temporary dir)")
    args = parser.parse_args()
    if args.quick:
        args.stack, args.streams, args.seconds = "embedded", 4, 3.0
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    with tempfile.TemporaryDirectory() as tmp_:
        tmp = Path(tmp_)
        out_dir = args.out or tmp
        out_dir.mkdir(parents=True, exist_ok=True)
        collapsed = out_dir / f"profile-{args.stack}-{args.streams}.txt"
        fake = Proc("harness.fake_models",
                    ["--port", str(free_port()), "--tokens", str(args.tokens),
                     "--pace-ms", str(args.pace_ms)], tmp / "fake.log", "fake model server")
        server, env = _chatstream(args.stack, tmp, f"{fake.url}/v1")
        try:
            assert server.url
            await run_load(server.url, min(args.streams, 8), 2)  # warm up
            # Enough answers per client to outlast the sampling window.
            per_client = max(2, int(args.seconds * 1000 / (args.tokens * args.pace_ms)) + 2)
            load = asyncio.create_task(run_load(server.url, args.streams, per_client, warmup=0))
            await asyncio.sleep(1)
            recorder = await asyncio.create_subprocess_exec(
                spy, "record", "--pid", str(server.proc.pid), "--duration", str(int(args.seconds)),
                "--rate", str(args.rate), "--format", "raw", "--nonblocking",
                "--output", str(collapsed), stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL)
            await recorder.wait()
            result = await load
        finally:
            server.stop()
            fake.stop()
            if env.get("CHATSTREAM_BROKER"):
                drop_topics(env["CHATSTREAM_TOPIC_PREFIX"])
                drop_keyspace(env["CHATSTREAM_STORE"])
        total, own, inclusive = summarize(collapsed, args.top)
        print(f"machine: {machine()}; stack {args.stack}, {args.streams} streams, "
              f"{args.seconds:.0f} s at {args.rate}/s: {total} samples of a busy thread; "
              f"{len(result.total_ms)} answers, {result.errors} errors")
        print("\nself time (the function on top of the stack):")
        print(table(["function (file)", "samples", "share"], own))
        print("\ninclusive time, chatstream's code:")
        print(table(["function (file)", "samples", "share"], inclusive))
        if args.out:
            print(f"\ncollapsed stacks: {collapsed}")


if __name__ == "__main__":
    asyncio.run(main())
