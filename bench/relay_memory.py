"""Memory the edge's relay holds per finished answer kept for a resume.

A finished answer stays in the relay for ``RELAY_KEEP_S`` (60 s) so a client reconnecting
with ``Last-Event-ID`` is served from memory; this measures what one costs, by the answer's
length, with ``tracemalloc`` over a thousand answers built from real token events the way
the relay keeps them (decoded JSON in, the events each protocol renders kept):

    python -m bench.relay_memory [--quick]
"""

from __future__ import annotations

import argparse
import gc
import tracemalloc

import orjson

from api.relay.native import NativeSse
from api.relay.stream import RequestStream
from bench.common import machine, table
from schemas.events import AnswerFinished, TokensGenerated, Usage


def _events(words: int) -> list[bytes]:
    common = {"tenant_id": "acme", "request_id": "r", "conversation_id": "c",
              "attempt": "a1"}
    out = [TokensGenerated(**common, seq=i, text=f"word{i} ").model_dump_json().encode()
           for i in range(words)]
    out.append(AnswerFinished(**common, seq=words, message_id="m", finish_reason="stop",
                              usage=Usage(prompt_tokens=40, completion_tokens=words),
                              ).model_dump_json().encode())
    return out


def per_answer(words: int, answers: int) -> tuple[float, float]:
    """Bytes held per answer, and the bytes of its SSE frames as sent."""
    events = _events(words)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = []
    for n in range(answers):
        stream = RequestStream(f"r{n}", "acme", "u", "c")
        for raw in events:
            stream.add(orjson.loads(raw))
        kept.append(stream)
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    wire = len(NativeSse().render(kept[0].events))
    return held / answers, wire


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer answers (seconds)")
    args = parser.parse_args()
    answers = 100 if args.quick else 1000
    rows = []
    for words in (20, 50, 200):
        held, wire = per_answer(words, answers)
        rows.append([words + 1, f"{wire / 1000:.1f}", f"{held / 1000:.1f}",
                     f"{held / (words + 1):.0f}"])
    print(f"machine: {machine()}; {answers} finished answers kept")
    print(table(["frames", "SSE KB as sent", "KB held per answer", "bytes per frame"], rows))


if __name__ == "__main__":
    main()
