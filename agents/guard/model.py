"""The classifier: a linear model over the words, word pairs, letter n-grams and frames
(:mod:`agents.guard.frames`) of a folded text, trained by :mod:`agents.guard.train` from
the committed corpora.

A text is read in windows of a few sentences (an instruction hidden in a long page is
not drowned by the rest of it), along with the texts it hides (:func:`~agents.guard.text.hidden`);
its score is the highest of theirs. Scoring is a dictionary look-up per feature.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from agents.guard.frames import frames
from agents.guard.text import fold, hidden, squeeze

__all__ = ("WEIGHTS", "Model", "Scored", "classifier", "features", "load", "segments")

WEIGHTS = Path(__file__).with_name("weights.json")
WINDOW = 500
"""Characters of a window: about the length of the longest items the model learnt from."""
_NGRAMS = (4,)
_FRAME_WEIGHT = 3
_WORD = re.compile(r"\w+")
_SENTENCE = re.compile("(?<=[.!?;:\u3002\uff01\uff1f])\\s+")  # and CJK full stops


def features(folded: str) -> set[str]:
    """Words, adjacent word pairs, the 4-letter runs of the letters alone, and the
    frames of :mod:`agents.guard.frames` (each counted as many times as ``FRAME_WEIGHT``
    features, so a frame weighs against a long text's many letter runs)."""
    words = _WORD.findall(folded)
    found = {"w " + w for w in words}
    found.update(f"f {name} {i}" for name in frames(folded) for i in range(_FRAME_WEIGHT))
    found.update(f"b {a} {b}" for a, b in itertools.pairwise(words))
    letters = squeeze(folded)
    for n in _NGRAMS:
        found.update("c " + letters[i:i + n] for i in range(len(letters) - n + 1))
    return found


def segments(folded: str) -> list[str]:
    """``folded`` in windows of whole sentences (a sentence longer than a window in
    pieces), each window starting with the last sentence of the one before."""
    if len(folded) <= WINDOW:
        return [folded]
    pieces: list[str] = []
    for sentence in _SENTENCE.split(folded):
        pieces += [sentence[i:i + WINDOW] for i in range(0, len(sentence), WINDOW // 2)]
    windows: list[str] = []
    start = 0
    while start < len(pieces):
        end, size = start + 1, len(pieces[start])
        while end < len(pieces) and size + len(pieces[end]) < WINDOW:
            size += len(pieces[end]) + 1
            end += 1
        windows.append(" ".join(pieces[start:end]))
        if end >= len(pieces):
            break
        start = max(end - 1, start + 1)
    return windows


@dataclass(frozen=True)
class Scored:
    probability: float
    """The model's probability that the text is an attack."""
    where: str
    """Which text gave it: ``text`` or the kind of hidden text."""


@dataclass(frozen=True)
class Model:
    weights: dict[str, float]
    bias: float
    threshold: float
    """The probability from which a text is flagged."""

    def logit(self, folded: str) -> float:
        found = features(folded)
        if not found:
            return self.bias
        total = sum(map(self.weights.get, found, itertools.repeat(0.0)))
        return self.bias + total / math.sqrt(len(found))

    def score(self, text: str) -> Scored:
        folded = fold(text)
        best, where = max((self.logit(s), "text") for s in segments(folded))
        for kind, inner in hidden(text, folded):
            for s in segments(fold(inner)):
                logit = self.logit(s)
                if logit > best:
                    best, where = logit, kind
        return Scored(1.0 / (1.0 + math.exp(-best)), where)


def load(path: Path) -> Model:
    raw = json.loads(path.read_text(encoding="utf-8"))
    return Model(weights=raw["weights"], bias=raw["bias"], threshold=raw["threshold"])


@lru_cache(maxsize=1)
def classifier() -> Model:
    """The committed model (read once per process)."""
    return load(WEIGHTS)
