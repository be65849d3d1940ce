"""What tracing costs a stage per event: StageRunner.process on the embedded log with a
handler that emits one event, tracing off (the default) against on (jsonl exporter).

Each mode runs in its own interpreter (a TracerProvider is process-wide).

    python -m bench.telemetry_overhead [--events 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator

from kernel.settings import Settings
from kernel.telemetry import tracing
from schemas.events import MessageReceived, ScoresComputed
from schemas.topics import REQUESTS, SCORES
from streams.codec import encode
from streams.runtime.base import Emit, Record, StageSpec
from streams.runtime.embedded.runtime import EmbeddedRuntime
from streams.runtime.runner import StageRetry, StageRunner


async def _measure(events: int) -> float:
    runtime = EmbeddedRuntime(partitions=1)
    request = MessageReceived(tenant_id="t", request_id="r", message_id="m",
                              conversation_id="c", user_id="u", text="hello", model="local")
    scores = ScoresComputed(tenant_id="t", request_id="r", message_id="m",
                            conversation_id="c", user_id="u", sentiment="neutral",
                            sentiment_score=0.0, intent="other", quality=0.5, lead_score=0.0)

    async def handler(event: MessageReceived) -> AsyncIterator[Emit]:
        yield Emit(SCORES, "k", scores)

    runner = StageRunner(StageSpec("bench", (REQUESTS,), handler), runtime.publisher,
                         StageRetry.of(Settings.defaults()))
    record = Record(REQUESTS.name, 0, 0, b"k", encode(request), 0)
    logging_off = __import__("logging")
    logging_off.disable(logging_off.INFO)  # the per-event log line is not what is measured
    for _ in range(500):
        await runner.process(record)
    started = time.process_time()
    for _ in range(events):
        await runner.process(record)
    return (time.process_time() - started) / events * 1e6


MODES = ("off", "jsonl", "batch")


def _discarding() -> None:
    """Tracing on as with OTLP (batched export), minus the network: the SDK's own cost."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
    from opentelemetry.sdk.trace.export import SpanExportResult as Result

    class Discard(SpanExporter):
        def export(self, spans: object) -> Result:
            return Result.SUCCESS

    tracing.setup_tracing("console", "bench")  # then swap the console exporter out
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Discard()))
    tracing._provider, tracing._tracer = provider, provider.get_tracer("chatstream")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--mode", choices=MODES)
    args = parser.parse_args()
    if args.mode:
        if args.mode == "jsonl":
            tracing.setup_tracing(f"jsonl:{tempfile.mkdtemp()}", "bench")
        elif args.mode == "batch":
            _discarding()
        print(f"{asyncio.run(_measure(args.events)):.1f}")
        return
    results = {}
    for mode in MODES:
        out = subprocess.run([sys.executable, "-m", "bench.telemetry_overhead", "--mode",
                              mode, "--events", str(args.events)], capture_output=True,
                             text=True, check=True)
        results[mode] = float(out.stdout.strip().splitlines()[-1])
    print(f"StageRunner.process, {args.events} events, µs of CPU per event "
          "(process time, all threads):")
    for mode, us in results.items():
        extra = "" if mode == "off" else f"  (+{us - results['off']:.1f})"
        print(f"  tracing {mode:5}: {us:7.1f}{extra}")


if __name__ == "__main__":
    main()
