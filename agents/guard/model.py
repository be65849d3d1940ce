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
           "segments", "stored", "unstored")

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
    """The encoder's side (:mod:`agents.guard.encoder`): the embeddings of the training
    texts it read, attacks and benign apart, and how a text's embedding is judged by
    its nearest of them. A phrasing or language the linear model never saw lands near
    the attacks it means the same as."""

    attacks: npt.NDArray[np.float32]
    """Unit embeddings of training attacks, one a row."""
    benign: npt.NDArray[np.float32]
    """Unit embeddings of benign training texts, one a row."""
    floor: float
    """The linear logit below which a text passes without asking the encoder."""
    threshold: float
    """The probability of the combined logit from which a text is flagged."""
    near: int = 5
    """Neighbours of each class averaged."""
    scale: float = 50.0
    """Cosine similarities are close together: the gap between the classes is scaled
    to a logit."""
    weight: float = 0.3
    """The linear logit's share of the combined logit (the rest is the neighbours')."""

    def logit(self, found: npt.NDArray[np.float32]) -> float:
        """How much nearer the embedding ``found`` is to attacks than to benign texts."""
        unit = found / max(float(np.linalg.norm(found)), 1e-12)
        # einsum, not a BLAS product: BLAS's threads spin on a busy machine and cost
        # ~10x the CPU of this one-thread loop (~0.5 ms for both classes).
        return self.scale * (
            _nearest(np.einsum("ij,j->i", self.attacks, unit), self.near)
            - _nearest(np.einsum("ij,j->i", self.benign, unit), self.near))

    def combined(self, linear: float, found: npt.NDArray[np.float32]) -> float:
        return self.weight * linear + (1 - self.weight) * self.logit(found)


def _nearest(similarity: npt.NDArray[np.floating], near: int) -> float:
    """The mean of the ``near`` highest similarities."""
    if similarity.size <= near:
        return float(similarity.mean()) if similarity.size else 0.0
    return float(np.partition(similarity, -near)[-near:].mean())


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
        probability = _sigmoid(self.head.combined(best, found))
        return Scored(probability, where, probability >= self.head.threshold, asked=True)


def _array(data: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.lib.format.write_array(out, data, allow_pickle=False)
    return out.getvalue()


def _text(data: str) -> np.ndarray:
    return np.frombuffer(data.encode(), dtype=np.uint8)


_EXAMPLE = 127
"""Embeddings are stored as int8: unit vectors times this, rounded."""


def stored(embeddings: npt.NDArray[np.floating]) -> npt.NDArray[np.int8]:
    """``embeddings`` (rows) as unit vectors in int8, as :func:`save` keeps them."""
    unit = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
    return np.asarray(np.round(unit * _EXAMPLE), dtype=np.int8)


def unstored(examples: npt.NDArray[np.int8]) -> npt.NDArray[np.float32]:
    return np.asarray(examples, dtype=np.float32) / np.float32(_EXAMPLE)


def save(path: Path, weights: Mapping[str, float], meta: Mapping[str, object],
         examples: npt.NDArray[np.int8] | None = None,
         labels: npt.NDArray[np.bool_] | None = None) -> None:
    """Writes ``weights`` (feature name to weight), the encoder's ``examples``
    (:func:`stored`) with their ``labels`` (attack or not) and ``meta`` (``bias``,
    ``threshold``, the head's ``floor``, ``head_threshold``, ``near``, ``scale`` and
    ``weight``, and what else training records) to ``path``, as :func:`load` reads
    them."""
    names = sorted(weights)
    arrays = {"features": _text("\n".join(names)),
              "weights": np.array([weights[n] for n in names], dtype=np.float16),
              "meta": _text(json.dumps(meta, sort_keys=True))}
    if examples is not None and labels is not None:
        arrays["examples"] = np.asarray(examples, dtype=np.int8)
        arrays["labels"] = np.asarray(labels, dtype=np.uint8)
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
    with np.load(path, allow_pickle=False) as kept:
        names = kept["features"].tobytes().decode().split("\n")
        values = kept["weights"].astype(np.float64).tolist()
        meta = json.loads(kept["meta"].tobytes().decode())
        examples = kept["examples"] if "examples" in kept.files else None
        labels = kept["labels"].astype(bool) if "labels" in kept.files else None
    head = None
    if examples is not None and labels is not None:
        found = unstored(examples)
        head = Head(found[labels], found[~labels], float(meta["floor"]),
                    float(meta["head_threshold"]), int(meta["near"]), float(meta["scale"]),
                    float(meta["weight"]))
    return Model(weights=dict(zip(names, values, strict=True)), bias=float(meta["bias"]),
                 threshold=float(meta["threshold"]), head=head, encode=encode)


@lru_cache(maxsize=1)
def classifier() -> Model:
    """The committed model with the encoder when it is installed (read once per
    process)."""
    return load(WEIGHTS, encoder())
