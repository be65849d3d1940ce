"""Messages accepted per second by one edge process and by two, with acks=all, and a
count proving every accepted message reached the store.

Runs `chatstream edge` (1 or 2) plus one `chatstream worker persistence` on Kafka and
Cassandra; no inference runs, so the figure is the edge's ingestion path alone
(validate, check the conversation, publish and wait for Kafka's acknowledgement).
Load comes from separate client processes posting as fast as they can: wrk when it is
installed (``make wrk``), else a lean asyncio client (bench/rawhttp.py).

    python -m bench.ingestion [--seconds 15] [--clients 64] [--quick] [--profile DIR]

``--profile DIR`` samples the (first) edge with py-spy while it accepts and prints where
its event loop's time goes (the collapsed stacks are kept in DIR).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench import wrk
from bench.common import ROOT, START_S, UNCAPPED, Proc, bars, machine, table
from bench.cost import Meter, service_pids
from bench.profile import summarize
from bench.rawhttp import post_for
from harness.cleanup import drop_keyspace, drop_topics
from harness.servers import CASSANDRA, KAFKA, require


async def _post(url: str, cids: list[str], seconds: float,
                clients: int) -> tuple[int, int, float]:
    statuses = await post_for(
        url, seconds, clients,
        target=lambda n: f"/v1/conversations/{cids[n % len(cids)]}/messages",
        body=lambda n: {"text": f"load {n}"})
    # The client's own CPU, reported by itself: it has exited before the meter could
    # read it from /proc.
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return statuses[202], sum(statuses.values()) - statuses[202], usage.ru_utime + usage.ru_stime


def _wrk(url: str, cids: list[str], seconds: float, clients: int) -> tuple[int, int, float]:
    statuses, errors, cpu = wrk.post_for(url, cids, seconds, clients)
    return statuses[202], sum(statuses.values()) - statuses[202] + errors, cpu


def _client_process(url: str, cids: list[str], seconds: float, clients: int,
                    out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    try:
        out.put(_wrk(url, cids, seconds, clients) if wrk.available()
                else asyncio.run(_post(url, cids, seconds, clients)))
    except BaseException as exc:
        out.put(exc)  # the parent reports it instead of waiting forever
        raise


def _accepted(url: str) -> int:
    """The POSTs to a conversation's messages the edge answered 202, from its /metrics: the
    edge's own count, which includes the posts still in flight when the load generator
    stopped (wrk does not count their answers)."""
    text = httpx.get(f"{url}/metrics", timeout=60).text
    return sum(int(float(sample.value))
               for family in text_string_to_metric_families(text)
               if family.name == "chatstream_http_requests"
               for sample in family.samples
               if sample.name.endswith("_total") and sample.labels.get("method") == "POST"
               and sample.labels.get("status") == "202"
               and sample.labels.get("route", "").endswith("/messages"))


def _settled(count: Callable[[], int]) -> int:
    """``count`` once it stops moving: when the load generator stops, the edge is still
    answering the posts it had in flight, so an early read misses some 202s whose
    messages are stored all the same."""
    last = count()
    for _ in range(30):
        time.sleep(0.5)
        now = count()
        if now == last:
            return now
        last = now
    return last


async def _stored(url: str, cids: list[str]) -> int:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        total = 0
        for cid in cids:
            r = await client.get(f"/v1/conversations/{cid}/messages?limit=1000")
            total += len(r.json()["data"])
        return total


def _sample(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling process ``pid`` for ``seconds`` (raw collapsed stacks to ``out``),
    only the thread holding the GIL: a thread waiting for it (the Cassandra driver's
    reactor, mostly) would otherwise count as busy, and /proc says it is not."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return subprocess.Popen(
        [spy, "record", "--pid", str(pid), "--duration", str(max(1, int(seconds))),
         "--rate", "100", "--format", "raw", "--nonblocking", "--gil", "--output", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def measure(edges: int, seconds: float, clients: int, tmp: Path,
            idle_s: float = 3.0, profile: Path | None = None) -> dict[str, Any]:
    """Accepted POSTs, their rate, how many were stored, and the CPU of every process:
    edges and load generators over the posting window; the persistence worker and the
    JVMs until every accepted message is stored (or the drain gives up). ``profile``: a
    file for py-spy's collapsed stacks of the first edge while it accepts."""
    require(KAFKA, "Kafka")
    require(CASSANDRA, "Cassandra")
    env = {
        "CHATSTREAM_DATA_DIR": str(tmp / f"e{edges}"),
        "CHATSTREAM_TOPIC_PREFIX": f"bench-{uuid.uuid4().hex[:8]}.",
        "CHATSTREAM_LOG_LEVEL": "WARNING",
        "CHATSTREAM_BROKER": f"kafka://{KAFKA}",
        "CHATSTREAM_STORE": f"cassandra://{CASSANDRA}/bench_{uuid.uuid4().hex[:8]}",
        "CHATSTREAM_PARTITIONS": "12",
        "CHATSTREAM_WORKER_PORT": "0",
        **UNCAPPED,
    }
    procs = [Proc("chatstream.cli", ["worker", "persistence"], tmp / f"p{edges}.log",
                  "workers running", env, START_S)]
    try:
        procs += [Proc("chatstream.cli", ["edge", "--port", "0"], tmp / f"edge{edges}-{i}.log",
                       "listening on", env, START_S) for i in range(edges)]
        urls = [p.url for p in procs[1:] if p.url]

        async def conversations() -> list[str]:
            async with httpx.AsyncClient(base_url=urls[0]) as c:
                return [(await c.post("/v1/conversations")).json()["id"] for _ in range(64)]

        cids = asyncio.run(conversations())
        jvms = service_pids()
        meter = Meter({"persistence": procs[0].proc.pid, **jvms,
                       **{f"edge {i + 1}": p.proc.pid for i, p in enumerate(procs[1:])}},
                      tree=["persistence", *[f"edge {i + 1}" for i in range(edges)]],
                      shared=jvms)
        meter.idle(idle_s)
        queue: multiprocessing.Queue[tuple[int, int, float] | BaseException] = \
            multiprocessing.Queue()
        # One client process per edge: a single Python client could not load two edges.
        workers = [multiprocessing.Process(target=_client_process,
                                           args=(u, cids, seconds, clients, queue))
                   for u in urls]
        meter.start()
        start = time.monotonic()
        for w in workers:
            w.start()
        spy = _sample(procs[1].proc.pid, seconds - 1, profile) if profile else None
        results = [queue.get(timeout=seconds + 120) for _ in workers]
        elapsed = time.monotonic() - start
        posting = meter.lap()
        counts: list[tuple[int, int, float]] = []
        for r in results:
            if isinstance(r, BaseException):
                raise RuntimeError("a client process failed") from r
            counts.append(r)
        answered = sum(c[0] for c in counts)
        accepted = _settled(lambda: sum(_accepted(u) for u in urls))
        refused = sum(c[1] for c in counts)
        load_cpu = sum(c[2] for c in counts)
        for w in workers:
            w.join()
        if spy is not None:
            spy.wait(60)
        # Persistence is its own consumer group: wait for it to catch up.
        deadline = time.monotonic() + 180
        stored = 0
        while time.monotonic() < deadline:
            stored = asyncio.run(_stored(urls[0], cids))
            if stored >= accepted:
                break
            time.sleep(2)
        drained = meter.stop()
        edge_cpu = sum(posting.procs[f"edge {i + 1}"].cpu_s for i in range(edges))
        per = (lambda cpu: cpu * 1000 / accepted) if accepted else (lambda cpu: float("nan"))
        return {
            "edges": edges, "client": "wrk" if wrk.available() else "rawhttp",
            "accepted": accepted, "answered_202": answered, "rate": accepted / elapsed,
            "stored": stored, "refused": refused, "seconds": elapsed,
            "edge_ms_per_post": per(edge_cpu),
            "load_ms_per_post": per(load_cpu),
            "persistence_ms_per_post": per(drained.procs["persistence"].cpu_s),
            "jvm_ms_per_post": {n: per(drained.procs[n].net_cpu_s) for n in jvms
                                if n in drained.procs},
            "posting_window": posting.as_dict(), "drain_window": drained.as_dict(),
        }
    finally:
        for p in procs:
            p.stop()
        drop_topics(env["CHATSTREAM_TOPIC_PREFIX"])
        drop_keyspace(env["CHATSTREAM_STORE"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--clients", type=int, default=64, help="concurrent posts per edge")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs/img/ingestion.png")
    parser.add_argument("--profile", type=Path, default=None,
                        help="sample the edge with py-spy; keep its stacks in this dir")
    args = parser.parse_args()
    seconds = 2 if args.quick else args.seconds
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for edges in ([1] if args.quick else [1, 2]):
            stacks = None
            if args.profile is not None:
                args.profile.mkdir(parents=True, exist_ok=True)
                stacks = args.profile / f"edge-posts-{edges}.txt"
            r = measure(edges, seconds, args.clients, Path(tmp), 1.0 if args.quick else 3.0,
                        stacks)
            if stacks is not None and stacks.exists():
                total, own, inclusive = summarize(stacks, 25)
                print(f"\nedge profile ({edges} edge(s)): {total} samples")
                print(table(["function (file), self", "samples", "share"], own))
                print(table(["function (file), inclusive (ours)", "samples", "share"],
                            inclusive))
            jvm = sum(r["jvm_ms_per_post"].values())
            rows.append([edges, r["accepted"], r["refused"], r["rate"], r["rate"] / edges,
                         r["stored"], "yes" if r["stored"] >= r["accepted"] else "NO",
                         f"{r['edge_ms_per_post'] / edges:.3f}",
                         f"{r['persistence_ms_per_post']:.3f}", f"{jvm:.3f}",
                         f"{r['load_ms_per_post']:.3f}"])
    print(f"machine: {machine()}; {seconds:.0f} s of posting, {args.clients} concurrent "
          f"posts per edge ({'wrk' if wrk.available() else 'bench/rawhttp.py'}), acks=all")
    print("CPU ms per accepted POST, from /proc; JVMs net of their idle rate")
    print(table(["edges", "accepted", "not 202", "accepted/s", "per edge/s", "stored",
                 "every accepted stored", "edge CPU ms/POST (each)", "persistence",
                 "Kafka+Cassandra", "load generator"], rows))
    if not args.quick:
        names = [f"{r[0]} edge{'s' if r[0] != 1 else ''}" for r in rows]
        bars(args.plot, "messages accepted (202, acks=all)",
             [("accepted/s per edge process", names, [float(r[4]) for r in rows], 5000.0)])
        print(f"plot: {args.plot.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
