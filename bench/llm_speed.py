"""The in-process language model: speed at 1 and 4 concurrent answers, and answers to a
short set of questions, so a reader can judge them.

Drives the product's own provider (agents/providers/llama_cpp.py) on a catalogue model
(``smollm2`` by default): time to first token, tokens per second of each answer and of
all answers together, and CPU seconds of this process per generated token. With 4
concurrent answers and LLM_CONCURRENCY answers at once, the others wait their turn: their
time to first token includes that wait.

    .venv/bin/python bench/llm_speed.py                    # speed table, then the answers
    .venv/bin/python bench/llm_speed.py --model other --catalogue my-models.yaml
    .venv/bin/python bench/llm_speed.py --concurrency 2   # answers generated at once

Prints Markdown.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agents.providers.base import Prompt  # noqa: E402
from agents.providers.llama_cpp import LlamaCppProvider  # noqa: E402
from kernel.catalogue import load_catalogue  # noqa: E402
from schemas.catalogue import ModelSpec  # noqa: E402
from schemas.events import HistoryTurn, Passage  # noqa: E402

SPEED_PROMPT = "Write a short story about a lighthouse keeper and a storm."

QUESTIONS: list[Prompt] = [
    Prompt(question="What is the capital of France?"),
    Prompt(question="Give me three tips for sleeping better."),
    Prompt(question="Where do I live?", history=(
        HistoryTurn(role="user", text="My name is Ada and I live in Lisbon."),
        HistoryTurn(role="assistant", text="Nice to meet you, Ada!"))),
    Prompt(question="How much do the staff earn?", passages=(
        Passage(document_id="d1", title="Orrelby handbook", chunk=0, score=1.0,
                text="Every employee of the cooperative receives wages of 3,450 euros "
                     "gross at month end. The canteen serves lentil soup on Thursdays."),)),
    Prompt(question="Write a Python function that returns the square of a number."),
    Prompt(question="Translate 'good morning' into Spanish."),
]


@dataclass(frozen=True)
class Run:
    ttft_s: float
    tokens: int
    duration_s: float


async def one(provider: LlamaCppProvider, spec: ModelSpec, prompt: Prompt) -> Run:
    started = time.perf_counter()
    first: float | None = None
    tokens = 0
    async for delta in provider.stream(spec, prompt):
        if delta.text:
            tokens += 1
            if first is None:
                first = time.perf_counter() - started
        if delta.usage is not None:
            tokens = delta.usage.completion_tokens
    return Run(first or 0.0, tokens, time.perf_counter() - started)


async def speed(provider: LlamaCppProvider, spec: ModelSpec, answers: int,
                max_tokens: int) -> str:
    prompt = Prompt(question=SPEED_PROMPT, max_tokens=max_tokens, temperature=0.7)
    cpu, wall = time.process_time(), time.perf_counter()
    runs = await asyncio.gather(*(one(provider, spec, prompt) for _ in range(answers)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    tokens = sum(r.tokens for r in runs)
    per_answer = [r.tokens / max(r.duration_s - r.ttft_s, 1e-9) for r in runs]
    return (f"| {answers} | {statistics.median(r.ttft_s for r in runs) * 1000:.0f} | "
            f"{max(r.ttft_s for r in runs) * 1000:.0f} | {statistics.median(per_answer):.1f} | "
            f"{tokens / wall:.1f} | {cpu * 1000 / max(tokens, 1):.1f} |")


async def main_async(args: argparse.Namespace) -> None:
    catalogue = load_catalogue(args.catalogue)
    spec = catalogue.get(args.model)
    if spec is None or spec.provider != "llama-cpp":
        raise SystemExit(f"{args.model} is not a llama-cpp model of the catalogue")
    provider = LlamaCppProvider(concurrency=args.concurrency)
    try:
        await one(provider, spec, Prompt(question="Hi", max_tokens=2))  # loads the model
        print(f"## {spec.name} ({spec.upstream}), {args.concurrency} answer(s) at once\n")
        print("| concurrent answers | TTFT median ms | TTFT max ms | tokens/s per answer "
              "(median) | tokens/s all answers | CPU ms per token |")
        print("|---|---|---|---|---|---|")
        for answers in (1, 4):
            print(await speed(provider, spec, answers, args.max_tokens), flush=True)
        if args.no_answers:
            return
        print(f"\n## Answers ({spec.name}, temperature 0, at most 120 tokens)\n")
        for prompt in QUESTIONS:
            deltas = [d async for d in provider.stream(
                spec, Prompt(question=prompt.question, history=prompt.history,
                             passages=prompt.passages, max_tokens=120, temperature=0))]
            text = "".join(d.text for d in deltas).strip()
            context = ""
            if prompt.history:
                context = " (earlier: " + " / ".join(t.text for t in prompt.history) + ")"
            if prompt.passages:
                context = f" (passage: {prompt.passages[0].text})"
            print(f"**Q:** {prompt.question}{context}\n")
            print("> " + text.replace("\n", "\n> ") + "\n", flush=True)
    finally:
        await provider.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--catalogue", type=Path, default=None,
                        help="catalogue file (default: the shipped one)")
    parser.add_argument("--concurrency", type=int, default=1,
                        help="answers generated at once (LLM_CONCURRENCY)")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--no-answers", action="store_true")
    asyncio.run(main_async(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
