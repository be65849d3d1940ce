"""Text out of an uploaded document: pypdf for PDF, tesseract OCR for images, a small
HTML-to-text pass, Markdown with its markup stripped, plain text decoded.

Everything here is synchronous, CPU-bound and run on hostile input: the ingestion stage
calls it only inside the limited child process of ``agents.ingestion.sandbox``.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

from agents.ingestion.markdown import markdown_to_text
from agents.ingestion.split import PAGE_BREAK
from kernel.errors import ChatstreamError

__all__ = ("ExtractionError", "extract_page", "extract_text", "ocr_available")


class ExtractionError(ChatstreamError):
    """The document cannot be read; the message is the reason shown to the user."""


def ocr_available() -> bool:
    return shutil.which("tesseract") is not None


def extract_text(data: bytes, media_type: str, *, ocr_timeout_s: float = 120.0) -> str:
    if media_type == "application/pdf":
        return _pdf(data)
    if media_type in ("image/png", "image/jpeg"):
        return _ocr(data, media_type, ocr_timeout_s)
    text = _decode(data)
    if media_type == "text/html":
        return _html(text)
    if media_type == "text/markdown":
        return markdown_to_text(text)
    if media_type == "text/plain":
        return text
    raise ExtractionError(f"cannot extract text from {media_type}")


def extract_page(data: bytes, media_type: str) -> tuple[str, str | None]:
    """A fetched web page's main text (without navigation, ads and footers: trafilatura)
    and its title; any other fetched type is read as an upload would be."""
    if media_type not in ("text/html", "application/xhtml+xml"):
        return extract_text(data, media_type), None
    import trafilatura

    text = trafilatura.extract(data, include_comments=False, include_tables=True,
                               deduplicate=True) or ""
    found = trafilatura.extract_metadata(data)
    title = " ".join((found.title or "").split())[:200] if found is not None else ""
    if not text.strip():  # a page trafilatura finds no article in: all of its text
        text = _html(_decode(data))
    return text, title or None


def _pdf(data: bytes) -> str:
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise ExtractionError("the PDF is encrypted with a password")
        pages = [page.extract_text() or "" for page in reader.pages]
    except (ExtractionError, MemoryError):
        raise  # a MemoryError is the sandbox's limit, not a damaged file
    except Exception as exc:  # pypdf raises many kinds on damaged files
        raise ExtractionError(f"not a readable PDF: {type(exc).__name__}: {exc}") from exc
    if not any(p.strip() for p in pages):
        raise ExtractionError("the PDF has no text layer (a scan?); OCR of PDF pages is "
                              "not supported: upload the pages as images")
    # Empty pages keep their place: passages are cited with the page they start on.
    return f"\n\n{PAGE_BREAK}\n\n".join(p.strip() for p in pages)


def _ocr(data: bytes, media_type: str, timeout_s: float) -> str:
    exe = shutil.which("tesseract")
    if exe is None:
        raise ExtractionError("reading text from images needs the tesseract OCR program, "
                              "which is not installed on this machine (`make ocr` installs it)")
    suffix = ".png" if media_type == "image/png" else ".jpg"
    with tempfile.TemporaryDirectory(prefix="chatstream-ocr-") as tmp:
        image = Path(tmp) / f"upload{suffix}"
        image.write_bytes(data)
        try:
            done = subprocess.run(
                [exe, str(image), "stdout", "-l", "eng", "--psm", "3"],
                capture_output=True, timeout=timeout_s, check=False,
                # One thread per OCR: workers run several stages side by side.
                env={**os.environ, "OMP_THREAD_LIMIT": "1"},
            )
        except subprocess.TimeoutExpired as exc:
            raise ExtractionError(f"OCR took longer than {timeout_s:.0f}s") from exc
    if done.returncode in (-signal.SIGXCPU, -signal.SIGKILL, -signal.SIGSEGV):
        raise ExtractionError("tesseract was stopped reading the image: it went past its "
                              "CPU or memory limit")
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip().splitlines()
        raise ExtractionError("tesseract could not read the image: "
                              + (detail[-1] if detail else f"exit {done.returncode}"))
    return done.stdout.decode(errors="replace")


def _decode(data: bytes) -> str:
    if b"\x00" in data[:4096]:
        raise ExtractionError("the file is binary, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


class _TextOfHtml(HTMLParser):
    _SKIP = frozenset({"script", "style", "noscript", "template", "svg", "head"})
    _BLOCK = frozenset({"p", "div", "section", "article", "header", "footer", "li", "ul",
                        "ol", "table", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "pre",
                        "blockquote", "br", "hr", "dd", "dt", "main", "aside", "nav"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BLOCK:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def _html(text: str) -> str:
    parser = _TextOfHtml()
    parser.feed(text)
    parser.close()
    joined = "".join(parser.parts)
    lines = (" ".join(line.split()) for line in joined.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
