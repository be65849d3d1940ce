"""The classifier: a linear model over the words, word pairs, letter n-grams and frames
(:mod:`agents.guard.frames`) of a folded text, trained by :mod:`agents.guard.train` from
the committed corpora.

A text is read in windows of a few sentences (an instruction hidden in a long page is
not drowned by the rest of it), along with the texts it hides (:func:`~agents.guard.text.hidden`);
its score is the highest of theirs. Scoring is a dictionary look-up per feature.

The weights are kept in ``weights.npz`` (written by :func:`save`): the feature names as
one UTF-8 text, their weights as float16, and the bias and threshold as a small JSON
text, in a zip written with fixed timestamps so the same training gives the same bytes.
"""

from __future__ import annotations

import io
import itertools
import json
import math
import re
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

from agents.guard.encoder import Encode, encoder
from agents.guard.frames import frames
from agents.guard.text import fold, hidden, squeeze

__all__ = ("WEIGHTS", "Head", "Model", "Scored", "classifier", "features", "load", "save",
           "segments")

WEIGHTS = Path(__file__).with_name("weights.npz")
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
    flagged: bool
    """The probability is at or above the threshold that applies."""
    asked: bool = False
    """The encoder gave its opinion (the linear model did not clear the text)."""


@dataclass(frozen=True)
class Head:
    """The encoder's logistic head (:mod:`agents.guard.encoder`) and where it is asked."""

    weights: npt.NDArray[np.float32]
    bias: float
    floor: float
    """The linear logit below which a text passes without asking the encoder."""
    threshold: float
    """The probability of the combined logit (the mean of the linear model's and the
    head's) from which a text is flagged."""


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-min(max(z, -60.0), 60.0)))


@dataclass(frozen=True)
class Model:
    weights: dict[str, float]
    bias: float
    threshold: float
    """The probability from which a text is flagged when the linear model decides
    alone (no encoder)."""
    head: Head | None = None
    encode: Encode | None = field(default=None, compare=False)
    """The encoder the head reads (``None``: the linear model decides alone)."""

    def logit(self, folded: str) -> float:
        found = features(folded)
        if not found:
            return self.bias
        total = sum(map(self.weights.get, found, itertools.repeat(0.0)))
        return self.bias + total / math.sqrt(len(found))

    def linear(self, text: str) -> tuple[float, str, str]:
        """The highest logit of the windows of ``text`` and of the texts it hides, where
        it was found, and that window (folded)."""
        folded = fold(text)
        best, where, window = max((self.logit(s), "text", s) for s in segments(folded))
        for kind, inner in hidden(text, folded):
            for s in segments(fold(inner)):
                logit = self.logit(s)
                if logit > best:
                    best, where, window = logit, kind, s
        return best, where, window

    def score(self, text: str, ask: Callable[[], bool] | None = None,
              read: Callable[[Encode, str], npt.NDArray[np.float32]] | None = None) -> Scored:
        """``ask`` says whether the encoder may still be asked (a budget): when it says
        no, the linear model decides alone, at its own threshold. ``read`` runs the
        encoder on a window (e.g. in the caller's turn, :mod:`agents.guard.lane`);
        ``None``: here and now."""
        best, where, window = self.linear(text)
        if self.head is None or self.encode is None or (
                best >= self.head.floor and ask is not None and not ask()):
            probability = _sigmoid(best)
            return Scored(probability, where, probability >= self.threshold)
        if best < self.head.floor:
            return Scored(_sigmoid(best), where, False)
        found = self.encode(window) if read is None else read(self.encode, window)
        second = float(self.head.weights @ found) + self.head.bias
        probability = _sigmoid((best + second) / 2)
        return Scored(probability, where, probability >= self.head.threshold, asked=True)


def _array(data: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.lib.format.write_array(out, data, allow_pickle=False)
    return out.getvalue()


def _text(data: str) -> np.ndarray:
    return np.frombuffer(data.encode(), dtype=np.uint8)


def save(path: Path, weights: Mapping[str, float], meta: Mapping[str, object],
         head: npt.NDArray[np.floating] | None = None) -> None:
    """Writes ``weights`` (feature name to weight), the encoder's ``head`` weights and
    ``meta`` (``bias``, ``threshold``, the head's ``head_bias``, ``floor`` and
    ``head_threshold``, and what else training records) to ``path``, as :func:`load`
    reads them."""
    names = sorted(weights)
    arrays = {"features": _text("\n".join(names)),
              "weights": np.array([weights[n] for n in names], dtype=np.float16),
              "meta": _text(json.dumps(meta, sort_keys=True))}
    if head is not None:
        arrays["head"] = np.asarray(head, dtype=np.float32)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, _array(data))
    path.write_bytes(out.getvalue())


def load(path: Path, encode: Encode | None = None) -> Model:
    """The model stored at ``path``; its head reads ``encode`` (``None``: the linear
    model decides alone)."""
    with np.load(path, allow_pickle=False) as stored:
        names = stored["features"].tobytes().decode().split("\n")
        values = stored["weights"].astype(np.float64).tolist()
        meta = json.loads(stored["meta"].tobytes().decode())
        vector = stored["head"] if "head" in stored.files else None
    head = None if vector is None else Head(
        vector, float(meta["head_bias"]), float(meta["floor"]),
        float(meta["head_threshold"]))
    return Model(weights=dict(zip(names, values, strict=True)), bias=float(meta["bias"]),
                 threshold=float(meta["threshold"]), head=head, encode=encode)


@lru_cache(maxsize=1)
def classifier() -> Model:
    """The committed model with the encoder when it is installed (read once per
    process)."""
    return load(WEIGHTS, encoder())
