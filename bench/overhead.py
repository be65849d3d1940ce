"""What the pipeline adds to time to first token, at 1, 16, 64 and 256 concurrent streams.

Three servers in front of the same fake model server (N tokens at a set pace, zero think
time), driven by the same load generator:
(a) chatstream on Kafka + Cassandra (`chatstream up --broker kafka://...`),
(b) chatstream embedded (`chatstream up`),
(c) the direct baseline: a minimal FastAPI SSE endpoint calling the model in-process.
The added TTFT of (a) and (b) is their TTFT minus the baseline's at the same concurrency.

    python -m bench.overhead [--quick] [--levels 1,16,64,256] [--tokens 50] [--pace-ms 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import uuid
from pathlib import Path

from bench.common import ROOT, UNCAPPED, Proc, free_port, machine, pct, table
from bench.load import Result, run_load
from harness.cleanup import drop_keyspace, drop_topics
from harness.servers import CASSANDRA, KAFKA, require

MODELS = ROOT / "tests/e2e/models.yaml"


def _chatstream(kind: str, tmp: Path, model_url: str) -> tuple[Proc, dict[str, str]]:
    env = {
        "CHATSTREAM_DATA_DIR": str(tmp / kind),
        "CHATSTREAM_TOPIC_PREFIX": f"bench-{uuid.uuid4().hex[:8]}.",
        "CHATSTREAM_LOG_LEVEL": "WARNING", **UNCAPPED,
        "CHATSTREAM_MODELS_FILE": str(MODELS),
        "CHATSTREAM_ENDPOINTS": json.dumps({"fake": {"base_url": model_url,
                                                     "api_key": "bench"}}),
        "CHATSTREAM_INFERENCE_CONCURRENCY": "512",
    }
    if kind == "kafka":
        require(KAFKA, "Kafka")
        require(CASSANDRA, "Cassandra")
        env |= {"CHATSTREAM_BROKER": f"kafka://{KAFKA}",
                "CHATSTREAM_STORE": f"cassandra://{CASSANDRA}/bench_{uuid.uuid4().hex[:8]}"}
    proc = Proc("chatstream.cli", ["up", "--port", "0"], tmp / f"{kind}.log",
                "listening on", env)
    return proc, env


def plot(rows: list[tuple[str, int, Result]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for name in dict.fromkeys(r[0] for r in rows):
        pts = [(c, pct(r.ttft_ms, 0.5)) for n, c, r in rows if n == name and r.ttft_ms]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=name)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("concurrent streams")
    ax.set_ylabel("TTFT p50 (ms)")
    ax.set_title("time to first token by concurrency")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1 and 4 streams, embedded")
    parser.add_argument("--levels", default="1,16,64,256")
    parser.add_argument("--stacks", default="baseline,embedded,kafka")
    parser.add_argument("--tokens", type=int, default=50)
    parser.add_argument("--pace-ms", type=float, default=10.0)
    parser.add_argument("--requests", type=int, default=4, help="answers per client")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs/img/overhead.png")
    args = parser.parse_args()
    levels = [1, 4] if args.quick else [int(x) for x in args.levels.split(",")]
    stacks = ["baseline", "embedded"] if args.quick else args.stacks.split(",")
    requests = 2 if args.quick else args.requests
    rows: list[tuple[str, int, Result]] = []
    with tempfile.TemporaryDirectory() as tmp_:
        tmp = Path(tmp_)
        fake = Proc("harness.fake_models",
                    ["--port", str(free_port()), "--tokens", str(args.tokens),
                     "--pace-ms", str(args.pace_ms)], tmp / "fake.log", "fake model server")
        try:
            model_url = f"{fake.url}/v1"
            for kind in stacks:
                env: dict[str, str] = {}
                if kind == "baseline":
                    port = free_port()
                    server = Proc("bench.baseline_app", ["--port", str(port), "--model-url",
                                                         model_url], tmp / "baseline.log",
                                  "baseline listening")
                else:
                    server, env = _chatstream(kind, tmp, model_url)
                try:
                    assert server.url
                    for c in levels:
                        rows.append((kind, c, await run_load(server.url, c, requests)))
                finally:
                    server.stop()
                    if env.get("CHATSTREAM_BROKER"):
                        drop_topics(env["CHATSTREAM_TOPIC_PREFIX"])
                        drop_keyspace(env["CHATSTREAM_STORE"])
        finally:
            fake.stop()
    base = {c: r for n, c, r in rows if n == "baseline"}
    out = []
    for name, c, r in rows:
        b = base.get(c)
        added = (pct(r.ttft_ms, 0.5) - pct(b.ttft_ms, 0.5)) if b and name != "baseline" else 0.0
        added99 = (pct(r.ttft_ms, 0.99) - pct(b.ttft_ms, 0.99)) if b and name != "baseline" \
            else 0.0
        out.append([name, c, len(r.ttft_ms), r.errors, pct(r.ttft_ms, 0.5),
                    pct(r.ttft_ms, 0.95), pct(r.ttft_ms, 0.99), added, added99,
                    pct(r.total_ms, 0.5), r.rps])
    print(f"machine: {machine()}; fake model: {args.tokens} tokens, {args.pace_ms} ms apart")
    print(table(["stack", "streams", "n", "errors", "TTFT p50", "p95", "p99", "added p50",
                 "added p99", "total p50", "answers/s"], out))
    if not args.quick:
        plot(rows, args.plot)
        print(f"plot: {args.plot.relative_to(ROOT)}")


if __name__ == "__main__":
    asyncio.run(main())
