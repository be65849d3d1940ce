"""Trains the guard's classifier from the committed corpora and writes ``weights.json``:
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
cross-validation on the training split, so it is never fitted to the test items.
"""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from agents.guard.corpus import Item, items
from agents.guard.model import WEIGHTS, features, segments
from agents.guard.text import fold
from agents.guard.tricks import TRICKS

__all__ = ("fit", "main", "training_texts")

SHARES = {"chatstream": 0.7, "S-Labs": 0.2, "yanismiraoui": 0.1}
"""Each corpus's share of the training weight of a class: ours (developers' questions,
the hard cases) counts most, the public sets add paraphrases."""
AUGMENT = ("hyphen splits", "spaced letters", "digits for letters", "Cyrillic letters")
L2 = 1e-5
ROUNDS = 600
STEP = 0.2
TARGET_FP = 0.004
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


def training_texts(found: Sequence[Item]) -> list[_Window]:
    """The folded windows of every training item and of its rewrite."""
    out: list[_Window] = []
    # System prompts are never judged (the developer's own words): not learnt either.
    for n, item in enumerate(i for i in found if i.split == "train" and i.role != "system"):
        rng = random.Random(item.text)
        rewrite = TRICKS[rng.choice(AUGMENT)](item.text, rng)
        for text in (item.text, rewrite):
            out += [_Window(s, item.attack, n, item.corpus, item.role)
                    for s in segments(fold(text))]
    return out


def _weights(windows: Sequence[_Window]) -> Floats:
    """Each corpus's share of each class (``SHARES``), spread evenly over its windows;
    benign and attacks weigh the same in all."""
    counts = Counter((w.corpus, w.attack) for w in windows)
    shares: dict[tuple[str, bool], float] = {}
    for attack in (False, True):
        present = {c: SHARES.get(c, 0.1) for c, a in counts if a == attack}
        total = sum(present.values())
        shares.update({(c, attack): share / total for c, share in present.items()})
    return np.array([0.5 * shares[(w.corpus, w.attack)] / counts[(w.corpus, w.attack)]
                     for w in windows])


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


def _threshold(windows: Sequence[_Window], texts: Sequence[set[str]], y: Floats,
               sample: Floats) -> float:
    """The lowest probability at which at most TARGET_FP of the held-out benign user
    messages are flagged, over the folds of a cross-validation, each corpus counting by
    its share (SHARES)."""
    groups = np.array([w.item for w in windows]) % _FOLDS
    benign: list[tuple[float, str]] = []
    for k in range(_FOLDS):
        held = groups == k
        kept = [t for t, h in zip(texts, held, strict=True) if not h]
        vocab = _vocabulary(kept)
        w, b = fit(_matrix(kept, vocab), y[~held], sample[~held], len(vocab))
        test = _matrix([t for t, h in zip(texts, held, strict=True) if h], vocab)
        p = 1.0 / (1.0 + np.exp(-_logits(test, w, b)))
        for window, prob in zip((x for x, h in zip(windows, held, strict=True) if h), p,
                                strict=True):
            if not window.attack and window.role == "user":
                benign.append((float(prob), window.corpus))
    counts = Counter(corpus for _, corpus in benign)
    shares = {c: SHARES.get(c, 0.1) for c in counts}
    total = sum(shares.values())
    flagged = 0.0
    for prob, corpus in sorted(benign, reverse=True):
        flagged += shares[corpus] / total / counts[corpus]
        if flagged > TARGET_FP:
            return round(max(prob + 1e-4, 0.5), 4)
    return 0.5


def train(found: Sequence[Item]) -> dict[str, object]:
    windows = training_texts(found)
    texts = [features(w.text) for w in windows]
    y = np.array([1.0 if w.attack else 0.0 for w in windows])
    sample = _weights(windows)
    threshold = _threshold(windows, texts, y, sample)
    vocab = _vocabulary(texts)
    w, b = fit(_matrix(texts, vocab), y, sample, len(vocab))
    weights = {f: round(float(w[i]), 4) for f, i in vocab.items() if abs(w[i]) >= PRUNE}
    return {"bias": round(b, 4), "threshold": threshold,
            "trained_on": {"windows": len(windows), "attacks": int(y.sum())},
            "weights": dict(sorted(weights.items()))}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=WEIGHTS)
    parser.add_argument("--check", action="store_true",
                        help="write nothing: exit 1 unless --out is what training gives")
    args = parser.parse_args(argv)
    result = train(items())
    text = json.dumps(result, ensure_ascii=False, indent=0) + "\n"
    if args.check:
        same = args.out.read_text(encoding="utf-8") == text
        print(f"{args.out} {'is' if same else 'is NOT'} what training gives")
        raise SystemExit(0 if same else 1)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}: {len(result['weights'])} features, "  # type: ignore[arg-type]
          f"threshold {result['threshold']}")


if __name__ == "__main__":
    main()
