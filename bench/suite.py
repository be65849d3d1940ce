"""The side-by-side suite in one command: direct upstream, LiteLLM, chatstream embedded
and chatstream on Kafka + Cassandra (production shape at one frame per upstream chunk and
at default coalescing, and `up --broker kafka` beside it) at 1, 16 and 64 streams, with
every answer's Kafka records and Cassandra statements counted; ingestion of one edge;
relay cost of one edge. It saves the raw
results (bench/results/) and rewrites its section of docs/benchmarks.md and the plot.

    python -m bench.suite                   (make bench; ~10 minutes on a quiet 2-core machine)
    python -m bench.suite --profile short   (fewer answers per level, no kafka-up; ~6 minutes)
    python -m bench.suite --quick           (seconds of each part; what the test runs)
    python -m bench.suite --render bench/results/X.json [--before bench/results/Y.json]

Bounded: a fixed number of answers per level, fixed windows for ingestion and relay, and
a deadline for the whole run. Loopback only: every server is started here on 127.0.0.1,
the shared Kafka and Cassandra of `make services` included.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import ROOT, START_S, Proc, free_port, machine
from bench.cost import machine_state
from bench.report import plot, render, replace_between_markers
from bench.sidebyside import jvm_idle_rate, measure_stack
from bench.stacks import STACKS

PROFILES: dict[str, dict[str, Any]] = {
    "full": {"stacks": list(STACKS), "levels": [1, 16, 64], "answers": 96,
             "ingest_s": 15.0, "relay": [100, 250, 500, 1000], "relay_s": 8.0,
             "idle_s": 3.0, "open": [10.0], "open_s": 6.0, "deadline_min": 45},
    "short": {"stacks": ["direct", "litellm", "embedded", "kafka", "kafka-coalesced"],
              "levels": [1, 16, 64],
              "answers": 48, "ingest_s": 8.0, "relay": [100, 500, 1000], "relay_s": 5.0,
              "idle_s": 2.0, "open": [10.0], "open_s": 4.0, "deadline_min": 30},
    "quick": {"stacks": ["direct", "embedded", "kafka"], "levels": [1, 2], "answers": 4,
              "ingest_s": 2.0, "relay": [20], "relay_s": 2.0, "idle_s": 0.5,
              "open": [4.0], "open_s": 1.5, "deadline_min": 20},
}


def _commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                           capture_output=True, text=True, check=False).stdout.strip()
    return done.stdout.strip() + ("+changes" if dirty else "")


def _deadline(minutes: float) -> None:
    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"the suite passed its {minutes:g}-minute deadline")

    signal.signal(signal.SIGALRM, expired)
    signal.alarm(int(minutes * 60))


def _part(res: dict[str, Any], name: str, fn: Callable[[], Any]) -> Any:
    """One part of the suite; its failure is recorded and the next part still runs (the
    deadline's TimeoutError stops everything)."""
    try:
        return fn()
    except TimeoutError:
        raise
    except Exception as exc:
        res["failures"].append(f"{name}: {type(exc).__name__}: {exc}"[:2000])
        print(f"  FAILED: {name}: {type(exc).__name__}: {exc}", flush=True)
        return None


def run(res: dict[str, Any], cfg: dict[str, Any], tokens: int, pace_ms: float) -> None:
    t0 = time.monotonic()
    # The processes' logs stay there when a run fails (and are removed when it succeeds).
    tmp = Path(tempfile.mkdtemp(prefix="bench-suite-"))
    print(f"logs: {tmp}", flush=True)
    fake = Proc("harness.fake_models",
                ["--port", str(free_port()), "--tokens", str(tokens),
                 "--pace-ms", str(pace_ms)], tmp / "fake.log", "fake model server",
                timeout=START_S)
    try:
        for kind in cfg["stacks"]:
            print(f"{kind}:", flush=True)

            def one(kind: str = kind) -> list[dict[str, Any]]:
                idle = jvm_idle_rate(cfg["idle_s"]) if kind.startswith("kafka") else {}
                return measure_stack(kind, tmp, f"{fake.url}/v1", fake.proc.pid,
                                     cfg["levels"], cfg["answers"], idle, cfg["open"],
                                     cfg["open_s"], cfg["idle_s"], res["side_by_side"],
                                     res.setdefault("records", {}))

            _part(res, kind, one)
    finally:
        fake.stop()
    if cfg["ingest_s"]:
        from bench.ingestion import measure as ingest

        print("ingestion:", flush=True)
        i = _part(res, "ingestion", lambda: ingest(1, cfg["ingest_s"], 64, tmp, cfg["idle_s"]))
        if i:
            res["ingestion"] = {**i, "connections": 64}
            print(f"  {i['rate']:.0f} accepted/s, {i['stored']}/{i['accepted']} stored, "
                  f"edge {i['edge_ms_per_post']:.3f} ms CPU/POST", flush=True)
    if cfg["relay"]:
        import asyncio

        from bench.streams import run_relay

        print("relay:", flush=True)
        res["relay"] = _part(res, "relay", lambda: asyncio.run(
            run_relay(cfg["relay"], cfg["relay_s"], tmp))) or []
    if not res["failures"]:
        shutil.rmtree(tmp, ignore_errors=True)
    res["meta"]["load_end"] = machine_state()
    res["meta"]["minutes"] = (time.monotonic() - t0) / 60


def publish(res: dict[str, Any], raw: Path, doc: Path, img: Path,
            before: Path | None) -> None:
    before_res = json.loads(before.read_text()) if before else None
    plot(res, img)

    def rel(p: Path) -> str:
        try:
            return str(p.resolve().relative_to(ROOT))
        except ValueError:
            return str(p)

    img_ref = str(Path(img).resolve().relative_to(doc.resolve().parent)) \
        if img.resolve().is_relative_to(doc.resolve().parent) else str(img)
    block = render(res, img_ref, rel(raw), before_res, rel(before) if before else "")
    doc.write_text(replace_between_markers(doc.read_text(), block))
    print(f"rewrote {rel(doc)} and {rel(img)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="full")
    parser.add_argument("--quick", action="store_true", help="the same as --profile quick")
    parser.add_argument("--stacks", help=f"comma-separated, of {', '.join(STACKS)}")
    parser.add_argument("--levels", help="concurrent streams, e.g. 1,16,64")
    parser.add_argument("--no-ingestion", action="store_true")
    parser.add_argument("--no-relay", action="store_true")
    parser.add_argument("--tokens", type=int, default=50, help="chunks per answer upstream")
    parser.add_argument("--pace-ms", type=float, default=10.0, help="between chunks upstream")
    parser.add_argument("--label", default="", help="added to the results file's name")
    parser.add_argument("--results-dir", type=Path, default=ROOT / "bench/results")
    parser.add_argument("--doc", type=Path, default=ROOT / "docs/benchmarks.md")
    parser.add_argument("--img", type=Path, default=ROOT / "docs/img/suite.png")
    parser.add_argument("--no-docs", action="store_true", help="save results, leave docs")
    parser.add_argument("--before", type=Path, help="results of an earlier run to compare")
    parser.add_argument("--render", type=Path, help="render saved results, measure nothing")
    args = parser.parse_args()
    if args.render:
        publish(json.loads(args.render.read_text()), args.render, args.doc, args.img,
                args.before)
        return
    profile = "quick" if args.quick else args.profile
    cfg = dict(PROFILES[profile])
    if args.stacks:
        cfg["stacks"] = args.stacks.split(",")
        unknown = set(cfg["stacks"]) - set(STACKS)
        if unknown:
            parser.error(f"unknown stacks: {', '.join(sorted(unknown))}")
    if args.levels:
        cfg["levels"] = [int(x) for x in args.levels.split(",")]
    if args.no_ingestion:
        cfg["ingest_s"] = 0.0
    if args.no_relay:
        cfg["relay"] = []
    started = datetime.now(UTC)
    res: dict[str, Any] = {"meta": {
        "started": started.strftime("%Y-%m-%d %H:%M UTC"), "commit": _commit(),
        "machine": machine(), "profile": profile, "tokens": args.tokens,
        "pace_ms": args.pace_ms, "config": cfg, "load_start": machine_state()},
        "side_by_side": [], "failures": []}
    args.results_dir.mkdir(parents=True, exist_ok=True)
    stamp = started.strftime("%Y%m%dT%H%M")
    raw = args.results_dir / f"suite-{stamp}-{profile}{'-' + args.label if args.label else ''}.json"
    _deadline(cfg["deadline_min"])
    try:
        run(res, cfg, args.tokens, args.pace_ms)
    except BaseException as exc:
        res["failures"].append(f"stopped: {type(exc).__name__}: {exc}")
        raise
    finally:
        signal.alarm(0)
        # What was measured is kept, also when a part failed or the deadline passed.
        raw.write_text(json.dumps(res, indent=1) + "\n")
        print(f"results: {raw}")
    if res["failures"]:
        raise SystemExit("failed: " + "; ".join(res["failures"]))
    if not args.no_docs:
        publish(res, raw, args.doc, args.img, args.before)
    else:
        from bench.report import targets

        print(targets(res))


if __name__ == "__main__":
    main()
