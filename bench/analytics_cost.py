"""What the analytics stage spends per write of one key's state, by the state's age.

The state of a (tenant, partition) holds every minute window of the last 180 minutes and
hour window of the last 72 hours, with up to 500 time-to-first-token samples per window
and model; it grows with traffic for three hours. Each write costs: counting the event,
the state as JSON (the Faust table's changelog, or the embedded state store), building the
snapshot and encoding it (the stage), and decoding it (every edge's analytics view). CPU
time (``time.process_time``) per write, at a steady ``--per-minute`` answers of one key:

    python -m bench.analytics_cost [--per-minute 15] [--quick]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from agents.analytics.core import copy, count, windows
from bench.common import machine, table
from schemas.events import AnalyticsSnapshot, ResponseCompleted, Usage
from schemas.topics import ANALYTICS
from streams.codec import decode, encode

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _answer(at: datetime) -> ResponseCompleted:
    return ResponseCompleted(
        tenant_id="t", occurred_at=at, request_id="r", message_id="m", conversation_id="c",
        user_id="u", reply_to="q", prompt="p", text="a", model="local", provider="local",
        usage=Usage(prompt_tokens=40, completion_tokens=20), finish_reason="stop",
        attempt="a", time_to_first_token_ms=random.uniform(5, 200), duration_ms=50.0)


def _per_call_ms(fn: Callable[[], Any], n: int = 30) -> float:
    started = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - started) / n * 1000


def measure(minutes: int, per_minute: int) -> dict[str, float]:
    state: dict[str, Any] = {}
    for m in range(minutes):
        for i in range(per_minute):
            count(state, _answer(T0 + timedelta(minutes=m, seconds=i * 60 / per_minute)), 0.7)
    event = _answer(T0 + timedelta(minutes=minutes))

    def snapshot() -> AnalyticsSnapshot:
        return AnalyticsSnapshot(tenant_id="t", group="analytics", partition=0,
                                 lead_threshold=0.7, minutes=windows(state, "minutes"),
                                 hours=windows(state, "hours"))

    snap = snapshot()
    raw = encode(snap)
    out = {
        "count": _per_call_ms(lambda: count(copy(state), event, 0.7)),
        "state_json": _per_call_ms(lambda: json.dumps(state)),
        "build": _per_call_ms(snapshot),
        "encode": _per_call_ms(lambda: encode(snap)),
        "edge_decode": _per_call_ms(lambda: decode(ANALYTICS, raw)),
    }
    out["total"] = sum(out.values())
    out["snapshot_kb"] = len(raw) / 1000
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-minute", type=int, default=15,
                        help="answers a minute on one tenant and partition")
    parser.add_argument("--quick", action="store_true", help="young states only (seconds)")
    args = parser.parse_args()
    random.seed(1)
    rows = []
    for minutes in (5, 30) if args.quick else (5, 30, 180, 3 * 24 * 60):
        r = measure(minutes, args.per_minute)
        age = f"{minutes // 60} h" if minutes >= 120 else f"{minutes} min"
        rows.append([age, f"{r['snapshot_kb']:.1f}", f"{r['count']:.2f}",
                     f"{r['state_json']:.2f}", f"{r['build']:.2f}", f"{r['encode']:.2f}",
                     f"{r['edge_decode']:.2f}", f"{r['total']:.2f}"])
    print(f"machine: {machine()}; {args.per_minute} answers a minute on one key; "
          "CPU ms per write of the key's state")
    print(table(["state's age", "snapshot KB", "copy + count", "state JSON", "build snapshot",
                 "encode", "edge decodes", "total"], rows))


if __name__ == "__main__":
    main()
