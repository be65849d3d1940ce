"""Crash: N messages accepted under load, kill -9 at a random moment, restart, count.

A real `chatstream up` (embedded, or on Kafka + Cassandra) gets messages posted by
``--clients`` concurrent clients over ``--conversations`` conversations (202, answers not
awaited). At a random moment while they are being accepted the process is killed with
SIGKILL; it is then started again on the same data (same DATA_DIR, topics, keyspace) and
given time to finish. For every message that got its 202, the conversation's stored
history must hold it once and exactly one answer to it:

- ``lost``: accepted, not stored after the restart;
- ``unanswered``: stored, no answer;
- ``duplicated``: stored more than once, or answered more than once.

    python -m bench.crash --stack embedded --messages 200
    python -m bench.crash --stack kafka --messages 200 --seed 7
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from bench.common import EXTRACTIVE
from harness.process import ChatstreamProcess
from harness.servers import CASSANDRA, KAFKA, require

__all__ = ("Outcome", "crash_run", "stack_env")


@dataclass
class Outcome:
    stack: str
    accepted: int = 0
    refused: int = 0  # in flight when the process died: no 202, so not promised
    killed_after_s: float = 0.0
    stored: int = 0
    answered: int = 0
    lost: list[str] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    answer_rows: int = 0  # assistant rows answering accepted messages (== answered when none twice)
    settle_s: float = 0.0

    def summary(self) -> dict[str, object]:
        d = asdict(self)
        for k in ("lost", "unanswered", "duplicated"):
            d[k] = len(d[k])
        return d


def stack_env(stack: str, workdir: Path) -> dict[str, str]:
    env = {
        "CHATSTREAM_DATA_DIR": str(workdir / "data"),
        "CHATSTREAM_TOPIC_PREFIX": f"crash-{uuid.uuid4().hex[:8]}.",
        "CHATSTREAM_WORKER_PORT": "0",
        "CHATSTREAM_LAG_INTERVAL_S": "0",
        # Slow enough that answers are under way when the process dies.
        "CHATSTREAM_LOCAL_MODEL_DELAY_MS": "5",
        **EXTRACTIVE,
    }
    if stack == "kafka":
        require(KAFKA, "Kafka")
        require(CASSANDRA, "Cassandra")
        env |= {"CHATSTREAM_BROKER": f"kafka://{KAFKA}",
                "CHATSTREAM_STORE": f"cassandra://{CASSANDRA}/crash_{uuid.uuid4().hex[:8]}"}
    return env


async def _post(client: httpx.AsyncClient, cids: list[str], n: int, out: Outcome,
                accepted: dict[str, str], clients: int, target: int,
                reached: asyncio.Event) -> None:
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            cid = cids[i % len(cids)]
            try:
                r = await client.post(f"/v1/conversations/{cid}/messages",
                                      json={"text": f"note {i}: the rack is number {i}"})
            except httpx.HTTPError:
                out.refused += 1
                continue
            if r.status_code == 202:
                accepted[r.json()["message_id"]] = cid
                if len(accepted) >= target:
                    reached.set()
            else:
                out.refused += 1
    await asyncio.gather(*(worker() for _ in range(clients)))
    reached.set()


async def _history(client: httpx.AsyncClient, cid: str) -> list[dict[str, object]]:
    r = await client.get(f"/v1/conversations/{cid}/messages")
    r.raise_for_status()
    data: list[dict[str, object]] = r.json()["data"]
    return data


def _tally(histories: dict[str, list[dict[str, object]]], accepted: dict[str, str],
           out: Outcome) -> None:
    users: Counter[str] = Counter()
    answers: Counter[str] = Counter()
    for data in histories.values():
        for m in data:
            if m["role"] == "user":
                users[str(m["id"])] += 1
            else:
                answers[str(m["request_id"])] += 1
    # A user message's request id is what its answer points to.
    request_of = {str(m["id"]): str(m["request_id"]) for data in histories.values()
                  for m in data if m["role"] == "user"}
    out.lost = [m for m in accepted if users[m] == 0]
    out.stored = sum(1 for m in accepted if users[m] > 0)
    out.unanswered = [m for m in accepted if users[m] and not answers[request_of[m]]]
    out.answered = sum(1 for m in accepted if users[m] and answers[request_of[m]])
    out.duplicated = [m for m in accepted
                      if users[m] > 1 or (users[m] and answers[request_of[m]] > 1)]
    out.answer_rows = sum(answers[request_of[m]] for m in accepted if users[m])


async def crash_run(stack: str, workdir: Path, *, messages: int = 200, clients: int = 8,
                    conversations: int = 16, seed: int | None = None,
                    settle_timeout_s: float = 180.0) -> Outcome:
    rng = random.Random(seed)
    env = stack_env(stack, workdir)
    out = Outcome(stack)
    first = ChatstreamProcess(["up", "--port", "0"], env, workdir / "first.log").start(600)
    accepted: dict[str, str] = {}
    assert first.url is not None
    async with httpx.AsyncClient(base_url=first.url, timeout=30) as client:
        cids = [(await client.post("/v1/conversations", json={"title": f"c{i}"})).json()["id"]
                for i in range(conversations)]
        # Kill at a random moment while messages are being accepted.
        target = rng.randint(max(1, messages // 5), max(2, messages * 4 // 5))
        reached = asyncio.Event()
        started = time.monotonic()
        posting = asyncio.create_task(_post(client, cids, messages, out, accepted, clients,
                                            target, reached))
        await reached.wait()
        assert first.proc is not None
        os.kill(first.proc.pid, signal.SIGKILL)
        out.killed_after_s = time.monotonic() - started
        await posting
    first.stop()
    out.accepted = len(accepted)
    second = ChatstreamProcess(["up", "--port", "0"], env, workdir / "second.log").start(600)
    try:
        assert second.url is not None
        async with httpx.AsyncClient(base_url=second.url, timeout=30) as client:
            t0 = time.monotonic()
            while True:
                histories = {cid: await _history(client, cid) for cid in cids}
                _tally(histories, accepted, out)
                if (not out.lost and not out.unanswered) or \
                        time.monotonic() - t0 > settle_timeout_s:
                    break
                await asyncio.sleep(1.0)
            out.settle_s = time.monotonic() - t0
            await asyncio.sleep(3.0)  # late duplicates would show up now
            _tally({cid: await _history(client, cid) for cid in cids}, accepted, out)
    finally:
        second.stop()
        if stack == "kafka":
            from harness.cleanup import drop_keyspace, drop_topics
            drop_topics(env["CHATSTREAM_TOPIC_PREFIX"])
            drop_keyspace(env["CHATSTREAM_STORE"])
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", choices=("embedded", "kafka"), default="embedded")
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--conversations", type=int, default=16)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    rows = []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            seed = None if args.seed is None else args.seed + run
            outcome = await crash_run(args.stack, Path(tmp), messages=args.messages,
                                      clients=args.clients,
                                      conversations=args.conversations, seed=seed)
        rows.append(outcome.summary())
        print(json.dumps(outcome.summary()), flush=True)
    total = {k: sum(int(r[k]) for r in rows) for k in  # type: ignore[call-overload]
             ("accepted", "stored", "answered", "lost", "unanswered", "duplicated")}
    print(f"{args.stack}, {len(rows)} run(s): {json.dumps(total)}")


if __name__ == "__main__":
    asyncio.run(main())
