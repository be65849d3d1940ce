"""Reading an upload in a child process under CPU, memory and wall-time limits.

An uploaded file is hostile until read: a PDF that makes pypdf spin or inflate without
end, an image that sends tesseract into gigabytes, a text crafted against a parser. In
the worker such a file would hold the event loop (so the consumer stops heart-beating
and Kafka takes its partitions away) or the whole process's memory. Read in a child, it
fails alone: the child is stopped at its limit and the document is marked failed with
the reason, while the worker goes on.

The child is this module run with ``python -m``: a JSON line of parameters as its first
argument, the file's bytes on stdin, a JSON object on stdout (``{"passages": [...]}`` or
``{"error": "..."}``). It sets its own limits before importing anything that reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ("Extracted", "ExtractionLimits", "child_environment", "read_document")

_ROOT = str(Path(__file__).resolve().parents[2])
_NICE = 10


@dataclass(frozen=True, slots=True)
class ExtractionLimits:
    cpu_s: int = 60
    memory_mb: int = 1024
    wall_s: float = 120.0
    # Passages kept of one document (each costs embedding CPU and index space): a small
    # file can inflate to thousands.
    max_passages: int = 1000


# What the reader and tesseract need of the environment, and nothing else: the worker's
# own holds the JWT secret, provider keys and store credentials, which a hostile file
# that took over the reader would otherwise find there.
_ENVIRONMENT = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TESSDATA_PREFIX")


def child_environment() -> dict[str, str]:
    env = {k: os.environ[k] for k in _ENVIRONMENT if k in os.environ}
    # The same code as this process, wherever the worker was started from.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (_ROOT, os.environ.get("PYTHONPATH"))))
    env["OMP_THREAD_LIMIT"] = "1"  # one OCR thread per document
    return env


def _failure(returncode: int, stderr: bytes, limits: ExtractionLimits) -> str:
    if returncode == -signal.SIGXCPU:
        return f"reading the document used more than its {limits.cpu_s} s of CPU"
    if returncode == -signal.SIGKILL:
        # The hard CPU limit (a second past the soft one) or the kernel's OOM killer.
        return (f"reading the document was stopped at its limits ({limits.cpu_s} s of "
                f"CPU, {limits.memory_mb} MB of memory)")
    lines = stderr.decode(errors="replace").strip().splitlines()
    last = lines[-1][:300] if lines else f"exit status {returncode}"
    return f"the document reader failed: {last}"


@dataclass(frozen=True, slots=True)
class Extracted:
    passages: list[str]
    # The page each passage is on (None: not a paged document, or for every passage).
    pages: list[int | None]
    # A fetched page's whole main text and title (None for uploads).
    text: str | None = None
    title: str | None = None
    # How many passages the document has: more than ``passages`` when it passed
    # ``max_passages``.
    found: int = 0


async def read_document(data: bytes, media_type: str, *, limits: ExtractionLimits,
                        passage_tokens: int, overlap_tokens: int,
                        page: bool = False) -> Extracted:
    """The document's passages (and, for a fetched ``page``, its main text and title),
    or :class:`ExtractionError` with the reason to show."""
    from agents.ingestion.extract import ExtractionError

    params = json.dumps({"media_type": media_type, "passage_tokens": passage_tokens,
                         "overlap_tokens": overlap_tokens, "cpu_s": limits.cpu_s,
                         "memory_mb": limits.memory_mb, "wall_s": limits.wall_s,
                         "max_passages": limits.max_passages, "page": page})
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agents.ingestion.sandbox", params,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        # Its own process group: tesseract, a grandchild, is stopped with it.
        start_new_session=True, env=child_environment(),
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(data), limits.wall_s)
    except TimeoutError:
        raise ExtractionError(
            f"reading the document took longer than {limits.wall_s:.0f} s") from None
    finally:
        if proc.returncode is None:  # timed out or cancelled: stop the whole group
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
    if proc.returncode != 0:
        raise ExtractionError(_failure(proc.returncode or 0, err, limits))
    try:
        answer: dict[str, Any] = json.loads(out)
    except ValueError as exc:
        raise ExtractionError("the document reader failed: unreadable output") from exc
    if "error" in answer:
        raise ExtractionError(str(answer["error"]))
    title = answer.get("title")
    passages = [str(p) for p in answer["passages"]]
    return Extracted(passages, [int(p) if p is not None else None for p in answer["pages"]],
                     str(answer["text"]) if "text" in answer else None,
                     str(title) if title else None, int(answer.get("found", len(passages))))


def _limit_self(cpu_s: int, memory_mb: int) -> None:
    import resource

    # Reading is bulk work: it takes the CPU that answering leaves (tesseract inherits it).
    os.nice(_NICE)
    # Soft CPU limit: SIGXCPU (whose default action ends the process); the hard one, a
    # second later, is SIGKILL. Both are inherited by tesseract, counted afresh there.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
    size = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (size, size))


def _child(params: dict[str, Any]) -> dict[str, Any]:
    _limit_self(int(params["cpu_s"]), int(params["memory_mb"]))
    data = sys.stdin.buffer.read()
    try:
        from agents.ingestion.extract import ExtractionError, extract_page, extract_text
        from agents.ingestion.split import split_pages

        out: dict[str, Any] = {}
        if params.get("page"):
            text, out["title"] = extract_page(data, str(params["media_type"]))
            out["text"] = text
        else:
            text = extract_text(data, str(params["media_type"]),
                                ocr_timeout_s=float(params["wall_s"]))
        found = split_pages(text, max_tokens=int(params["passage_tokens"]),
                            overlap_tokens=int(params["overlap_tokens"]))
        kept = found[:int(params["max_passages"])]
        out["passages"] = [passage for passage, _ in kept]
        out["pages"] = [page for _, page in kept]
        out["found"] = len(found)
        return out
    except ExtractionError as exc:
        return {"error": str(exc)}
    except MemoryError:
        return {"error": f"reading the document needs more than its "
                         f"{params['memory_mb']} MB of memory"}
    except RecursionError:
        return {"error": "the document is nested too deeply to read"}


if __name__ == "__main__":
    result = _child(json.loads(sys.argv[1]))
    sys.stdout.write(json.dumps(result))
