"""LiteLLM's proxy and chatstream's /v1/chat/completions side by side, in front of the
same fake model server, driven by the same load generator and the official openai client.

LiteLLM is installed from the pinned bench/requirements-litellm.txt into its own virtual
environment (under the cache directory) on first use, so it never mixes with chatstream's
dependencies. Both servers send the client the same chunking: chatstream relays each
upstream chunk as its own frame (``CHATSTREAM_CHUNK_MAX_CHARS=1``), as LiteLLM does.
`python -m bench.suite` runs this comparison with every process's CPU beside it.

    python -m bench.litellm_compare [--concurrency 16] [--requests 10] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import openai

from bench.common import ROOT, UNCAPPED, Proc, bars, free_port, machine, pct, table
from bench.stacks import ensure_litellm
from harness.cleanup import drop_keyspace, drop_topics
from harness.servers import CASSANDRA, KAFKA, require


class _LiteLLM:
    def __init__(self, exe: Path, model_url: str, tmp: Path) -> None:
        self.port = free_port()
        config = tmp / "litellm.yaml"
        config.write_text(json.dumps({"model_list": [{
            "model_name": "fake",
            "litellm_params": {"model": "openai/fake-model", "api_base": model_url,
                               "api_key": "bench"}}]}))
        self.log = tmp / "litellm.log"
        # LiteLLM refuses to start without a master key (1.80+); clients present it.
        self.key = f"sk-bench-{uuid.uuid4().hex}"
        self.proc = subprocess.Popen(
            [str(exe), "--config", str(config), "--port", str(self.port),
             "--host", "127.0.0.1", "--num_workers", "1"],
            stdout=self.log.open("w"), stderr=subprocess.STDOUT,
            env={**os.environ, "LITELLM_LOG": "ERROR", "DISABLE_SCHEMA_UPDATE": "true",
                 "LITELLM_MASTER_KEY": self.key})
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 180
        import httpx

        while True:
            try:
                if httpx.get(f"{self.url}/health/liveliness", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"litellm did not start; see {self.log}")
            time.sleep(0.5)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


async def drive(base_url: str, concurrency: int, requests: int,
                api_key: str = "bench") -> tuple[list[float], float, int]:
    client = openai.AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=0,
                                timeout=120)
    ttft: list[float] = []
    errors = 0

    async def one() -> None:
        nonlocal errors
        start = time.perf_counter()
        first = 0.0
        try:
            stream = await client.chat.completions.create(
                model="fake", stream=True,
                messages=[{"role": "user", "content": "summarise the plan"}])
            async for chunk in stream:
                if not first and chunk.choices and chunk.choices[0].delta.content:
                    first = time.perf_counter() - start
        except openai.OpenAIError:
            errors += 1
            return
        ttft.append(first * 1000)

    async def loop() -> None:
        for _ in range(requests):
            await one()

    await asyncio.gather(*(one() for _ in range(concurrency)))  # warm up
    ttft.clear()
    start = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    await client.close()
    return ttft, len(ttft) / elapsed, errors


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--tokens", type=int, default=50)
    parser.add_argument("--pace-ms", type=float, default=10.0)
    parser.add_argument("--stacks", default="embedded,kafka")
    parser.add_argument("--quick", action="store_true", help="chatstream embedded only, "
                        "no LiteLLM install")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs/img/litellm.png")
    args = parser.parse_args()
    conc, reqs = (2, 2) if args.quick else (args.concurrency, args.requests)
    rows = []
    with tempfile.TemporaryDirectory() as tmp_:
        tmp = Path(tmp_)
        fake = Proc("harness.fake_models",
                    ["--port", str(free_port()), "--tokens", str(args.tokens),
                     "--pace-ms", str(args.pace_ms)], tmp / "fake.log", "fake model server")
        model_url = f"{fake.url}/v1"
        try:
            if not args.quick:
                lite = _LiteLLM(ensure_litellm(), model_url, tmp)
                try:
                    rows.append(("litellm proxy", *await drive(f"{lite.url}/v1", conc, reqs,
                                                               lite.key)))
                finally:
                    lite.stop()
            for kind in (["embedded"] if args.quick else args.stacks.split(",")):
                env = {"CHATSTREAM_DATA_DIR": str(tmp / kind),
                       "CHATSTREAM_TOPIC_PREFIX": f"bench-{uuid.uuid4().hex[:8]}.",
                       "CHATSTREAM_LOG_LEVEL": "WARNING", **UNCAPPED,
                       # One frame per upstream chunk, as LiteLLM relays them.
                       "CHATSTREAM_CHUNK_MAX_CHARS": "1",
                       "CHATSTREAM_MODELS_FILE": str(ROOT / "tests/e2e/models.yaml"),
                       "CHATSTREAM_ENDPOINTS": json.dumps(
                           {"fake": {"base_url": model_url, "api_key": "bench"}})}
                if kind == "kafka":
                    require(KAFKA, "Kafka")
                    require(CASSANDRA, "Cassandra")
                    env |= {"CHATSTREAM_BROKER": f"kafka://{KAFKA}",
                            "CHATSTREAM_STORE":
                                f"cassandra://{CASSANDRA}/bench_{uuid.uuid4().hex[:8]}"}
                up = Proc("chatstream.cli", ["up", "--port", "0"], tmp / f"{kind}.log",
                          "listening on", env)
                try:
                    rows.append((f"chatstream {kind}",
                                 *await drive(f"{up.url}/v1", conc, reqs)))
                finally:
                    up.stop()
                    if kind == "kafka":
                        drop_topics(env["CHATSTREAM_TOPIC_PREFIX"])
                        drop_keyspace(env["CHATSTREAM_STORE"])
        finally:
            fake.stop()
    lite_row = next((r for r in rows if r[0] == "litellm proxy"), None)
    out = []
    for name, ttft, rps, errors in rows:
        ratio = (f"{pct(lite_row[1], 0.5) / pct(ttft, 0.5):.2f} / {rps / lite_row[2]:.2f}"
                 if lite_row and name != "litellm proxy" else "-")
        out.append([name, len(ttft), errors, pct(ttft, 0.5), pct(ttft, 0.95), pct(ttft, 0.99),
                    rps, ratio])
    print(f"machine: {machine()}; {conc} concurrent clients x {reqs} requests; fake model "
          f"{args.tokens} tokens, {args.pace_ms} ms apart; official openai client, stream")
    print(table(["server", "n", "errors", "TTFT p50 ms", "p95", "p99", "req/s",
                 "LiteLLM TTFT p50 / ours, our rps / LiteLLM's"], out))
    if not args.quick:
        names = [r[0] for r in rows]
        bars(args.plot, f"{conc} concurrent streams, same fake model",
             [("TTFT p50 (ms)", names, [pct(r[1], 0.5) for r in rows], None),
              ("requests/s", names, [r[2] for r in rows], None)])
        print(f"plot: {args.plot.relative_to(ROOT)}")


if __name__ == "__main__":
    asyncio.run(main())
