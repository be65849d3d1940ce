"""Quality of the memory stage's fact proposals, measured on a committed set of
conversations with the facts a person would keep (bench/data/memory_conversations.jsonl).

Every user message of a conversation goes through ``propose_facts`` (the offline rules the
memory stage runs); a proposal counts as right when it matches a kept fact by its content
words (Jaccard >= 0.5: "Works at Northwind Traders" and "Works at Northwind" match).
Prints precision and recall over the set, and each miss and false proposal.

    python -m bench.memory_eval                 # the offline rules
    python -m bench.memory_eval --model smollm2 # a model of the catalogue, by the prompt
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from agents.memory.extract import Fact, propose_facts
from stores.vectors.text import content_words

DATA = Path(__file__).resolve().parent / "data" / "memory_conversations.jsonl"


@dataclass(frozen=True)
class Score:
    proposed: int
    kept: int
    right: int
    misses: list[str]
    wrong: list[str]

    @property
    def precision(self) -> float:
        return self.right / self.proposed if self.proposed else 1.0

    @property
    def recall(self) -> float:
        found = self.kept - len(self.misses)
        return found / self.kept if self.kept else 1.0


def _words(text: str) -> set[str]:
    return set(content_words(text.lower())) or {text.lower()}


def matches(a: str, b: str) -> bool:
    x, y = _words(a), _words(b)
    return len(x & y) / len(x | y) >= 0.5


def evaluate(path: Path = DATA) -> Score:
    return asyncio.run(evaluate_with(_rules, _cases(path)))


def _cases(path: Path = DATA) -> list[dict[str, list[str]]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def _rules(text: str) -> list[Fact]:
    return propose_facts(text)


async def evaluate_with(propose: Callable[[str], Awaitable[list[Fact]]],
                        cases: list[dict[str, list[str]]]) -> Score:
    proposed = kept = right = 0
    misses: list[str] = []
    wrong: list[str] = []
    for case in cases:
        facts = [f.text for message in case["user"] for f in await propose(message)]
        proposed += len(facts)
        kept += len(case["facts"])
        right += sum(any(matches(f, k) for k in case["facts"]) for f in facts)
        wrong += [f for f in facts if not any(matches(f, k) for k in case["facts"])]
        misses += [k for k in case["facts"] if not any(matches(f, k) for f in facts)]
    return Score(proposed, kept, right, misses, wrong)


def _model_proposer(name: str) -> Callable[[str], Awaitable[list[Fact]]]:
    from agents.memory.model import ModelFacts
    from chatstream.workers import build_providers
    from kernel.catalogue import load_catalogue
    from kernel.settings import Settings

    settings = Settings()
    spec = load_catalogue(settings.models_file).get(name)
    if spec is None:
        raise SystemExit(f"no model {name!r} in the catalogue")
    provider = build_providers(settings).get(spec.provider_key)
    if provider is None:
        raise SystemExit(f"the provider of {name} is not configured here")
    return ModelFacts(provider, spec)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="", help="a model of the catalogue (default: "
                        "the offline rules)")
    args = parser.parse_args(argv)
    propose = _model_proposer(args.model) if args.model else _rules
    started = time.process_time()
    score = asyncio.run(evaluate_with(propose, _cases()))
    cpu = time.process_time() - started
    print(f"proposer: {args.model or 'rules'}; conversations: "
          f"{len(DATA.read_text().splitlines())}, facts to keep: {score.kept}, proposed: "
          f"{score.proposed}; CPU {cpu:.1f} s")
    print(f"precision {score.precision:.2f}  recall {score.recall:.2f}")
    for m in score.misses:
        print(f"  missed: {m}")
    for w in score.wrong:
        print(f"  wrong:  {w}")


if __name__ == "__main__":
    main()
