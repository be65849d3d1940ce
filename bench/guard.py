"""The prompt guard on held-out data: false positives on benign texts, catch rate on
attacks, plain and with every trick of :mod:`agents.guard.tricks`, beside the rule guard
it replaced (``bench/guard_baseline.py``) on the same texts; the public sets of
``agents/guard/corpus/external/``; and the CPU it costs per message.

    python -m bench.guard [--weights FILE] [--all]

Only items of the ``test`` split are scored (``--all`` scores the training split too, to
see how much the model fits it). Tricks rewrite texts with a random generator seeded by
the text, so every run scores the same texts.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from agents.guard.corpus import Item, items
from agents.guard.model import WEIGHTS, Model, load
from agents.guard.tricks import TRICKS
from bench import guard_baseline
from bench.common import pct, table

__all__ = ("main",)

Judge = Callable[[str], bool]


@dataclass
class Rate:
    flagged: int = 0
    total: int = 0

    def add(self, hit: bool) -> None:
        self.flagged += hit
        self.total += 1

    def __str__(self) -> str:
        if not self.total:
            return "-"
        return f"{100 * self.flagged / self.total:.1f} % ({self.flagged}/{self.total})"


def _rates(texts: Sequence[str], judges: Sequence[Judge]) -> list[Rate]:
    rates = [Rate() for _ in judges]
    for text in texts:
        for rate, judge in zip(rates, judges, strict=True):
            rate.add(judge(text))
    return rates


def _tricked(found: Sequence[Item], name: str) -> list[str]:
    out = []
    for item in found:
        rng = random.Random(f"{name}:{item.text}")
        out.append(TRICKS[name](item.text, rng))
    return out


def _cpu_ms(model: Model, texts: Sequence[str], rounds: int = 3) -> list[float]:
    """CPU milliseconds of this process per text (the best of ``rounds``)."""
    out = []
    for text in texts:
        best = float("inf")
        for _ in range(rounds):
            start = time.process_time()
            model.score(text)
            best = min(best, time.process_time() - start)
        out.append(best * 1000)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", type=Path, default=WEIGHTS)
    parser.add_argument("--all", action="store_true", help="score the training split too")
    args = parser.parse_args(argv)
    model = load(args.weights)

    def new(text: str) -> bool:
        return model.score(text).probability >= model.threshold

    def old(text: str) -> bool:
        return not guard_baseline.check(text).allowed

    judges: list[Judge] = [new, old]
    corpus = items()
    splits = ("train", "test") if args.all else ("test",)
    held = [i for i in corpus if i.split in splits]
    ours = [i for i in held if i.corpus == "chatstream"]
    # System prompts are the developer's own words: never judged, so not scored here.
    benign = [i for i in ours if not i.attack and i.role == "user"]
    tools = [i for i in ours if not i.attack and i.role == "tool"]
    attacks = [i for i in ours if i.attack]
    head = ["texts", "new guard", "old guard"]

    rows: list[list[object]] = []
    for label, group in (("benign", benign), ("attacks", attacks)):
        for kind in sorted({i.kind for i in group}):
            chosen = [i.text for i in group if i.kind == kind]
            rows.append([f"{label}: {kind}", *_rates(chosen, judges)])
        rows.append([f"**{label}: all**", *_rates([i.text for i in group], judges)])
    rows.append(["benign tool results (marked, never refused)",
                 *_rates([i.text for i in tools], judges)])
    print(f"chatstream's corpora, {' and '.join(splits)} split: {len(benign)} benign user "
          f"messages, {len(tools)} tool results, {len(attacks)} attacks; rate = share "
          "flagged\n")
    print(table(head, rows))

    rows = []
    for name in TRICKS:
        rows.append([name, *_rates(_tricked(attacks, name), judges),
                     *_rates(_tricked(benign, name), judges)])
    print("\nEvery one of those items rewritten by each trick: attacks caught, benign "
          "flagged\n")
    print(table(["trick", "attacks: new", "attacks: old", "benign: new", "benign: old"],
                rows))

    rows = []
    for name in sorted({i.corpus for i in held} - {"chatstream"}):
        for attack in (True, False):
            chosen = [i.text for i in held if i.corpus == name and i.attack == attack]
            if chosen:
                rows.append([f"{name}: {'attacks' if attack else 'benign'}",
                             *_rates(chosen, judges)])
    print("\nPublic sets, same split (see agents/guard/corpus/SOURCES.md)\n")
    print(table(head, rows))

    short = [i.text for i in ours if len(i.text) <= 500]
    page = " ".join(i.text for i in tools)
    page = (page * (16_000 // max(len(page), 1) + 1))[:16_000]
    costs = _cpu_ms(model, short)
    long = _cpu_ms(model, [page])
    print(f"\nCPU per message (this process, best of 3): {len(short)} messages of up to "
          f"500 characters p50 {pct(costs, 0.5):.3f} ms, p99 {pct(costs, 0.99):.3f} ms, "
          f"mean {sum(costs) / len(costs):.3f} ms; a 16,000-character tool result "
          f"{long[0]:.2f} ms")
    size = len(json.loads(args.weights.read_text(encoding="utf-8"))["weights"])
    print(f"Model: {size} features, threshold {model.threshold}")


if __name__ == "__main__":
    main()
