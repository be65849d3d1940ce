"""Quality of the memory stage's fact proposals, measured on a committed set of
conversations with the facts a person would keep (bench/data/memory_conversations.jsonl).

Every user message of a conversation goes through ``propose_facts`` (the offline rules the
memory stage runs); a proposal counts as right when it matches a kept fact by its content
words (Jaccard >= 0.5: "Works at Northwind Traders" and "Works at Northwind" match).
Prints precision and recall over the set, and each miss and false proposal.

    python -m bench.memory_eval
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from agents.memory.extract import propose_facts
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
    proposed = kept = right = 0
    misses: list[str] = []
    wrong: list[str] = []
    for line in path.read_text().splitlines():
        case = json.loads(line)
        facts = [f.text for message in case["user"] for f in propose_facts(message)]
        proposed += len(facts)
        kept += len(case["facts"])
        right += sum(any(matches(f, k) for k in case["facts"]) for f in facts)
        wrong += [f for f in facts if not any(matches(f, k) for k in case["facts"])]
        misses += [k for k in case["facts"] if not any(matches(f, k) for f in facts)]
    return Score(proposed, kept, right, misses, wrong)


def main() -> None:
    score = evaluate()
    print(f"conversations: {len(DATA.read_text().splitlines())}, facts to keep: "
          f"{score.kept}, proposed: {score.proposed}")
    print(f"precision {score.precision:.2f}  recall {score.recall:.2f}")
    for m in score.misses:
        print(f"  missed: {m}")
    for w in score.wrong:
        print(f"  wrong:  {w}")


if __name__ == "__main__":
    sys.exit(main())
