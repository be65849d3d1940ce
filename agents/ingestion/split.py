"""Document text into passages that respect paragraphs, with overlap, under a token budget.

Whole paragraphs are packed into a passage while they fit; a passage ends at a paragraph
boundary when the next paragraph does not fit, and only a paragraph larger than the
budget is cut (at sentence ends, a sentence over the budget at words). Each passage
after the first starts with the last sentences of the one before, up to the overlap, so
a fact that straddles a boundary is whole in at least one passage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agents.providers.base import estimate_tokens

__all__ = ("PAGE_BREAK", "split_pages", "split_passages")

PAGE_BREAK = "\f"
"""A paragraph of its own between two pages (a form feed, as in plain text): the passages
after it are on the next page."""

_CHARS_PER_TOKEN = 4  # as estimate_tokens counts
_PARAGRAPHS = re.compile(r"\n[ \t]*\n")
_SENTENCES = re.compile(r"(?<=[.!?])\s+(?=\S)")


def _tokens(text: str) -> int:
    # Counted with the separator that joins it to the next (at most two characters), so
    # the sum over a passage never undercounts the passage itself.
    return estimate_tokens(text + "  ")


@dataclass(frozen=True, slots=True)
class _Sentence:
    text: str
    paragraph: int
    tokens: int
    page: int | None = None


def _pieces(sentence: str, max_tokens: int) -> list[str]:
    """A sentence over the budget cut at words, a word over the budget cut anywhere.
    Lengths are counted as words are added (never by joining again): one pass."""
    limit = max_tokens * _CHARS_PER_TOKEN - 2  # _tokens() adds the two-character separator
    pieces: list[str] = []
    piece: list[str] = []
    size = 0
    for word in sentence.split():
        while len(word) > limit:  # no spaces for a whole passage: a hostile or binary text
            if piece:
                pieces.append(" ".join(piece))
                piece, size = [], 0
            pieces.append(word[:limit])
            word = word[limit:]
        grown = size + (1 if piece else 0) + len(word)
        if piece and grown > limit:
            pieces.append(" ".join(piece))
            piece, grown = [], len(word)
        piece.append(word)
        size = grown
    if piece:
        pieces.append(" ".join(piece))
    return pieces


def _paragraphs(text: str, max_tokens: int) -> list[list[_Sentence]]:
    out: list[list[_Sentence]] = []
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    page = 1 if PAGE_BREAK in text else None
    for raw in _PARAGRAPHS.split(text):
        if page is not None and raw.strip(" \t\n") == PAGE_BREAK:
            page += 1
            continue
        paragraph = " ".join(raw.split())  # wrapped lines (PDF, OCR) become one line
        if not paragraph:
            continue
        n = len(out)
        sentences: list[_Sentence] = []
        for sentence in _SENTENCES.split(paragraph):
            if _tokens(sentence) <= max_tokens:
                sentences.append(_Sentence(sentence, n, _tokens(sentence), page))
                continue
            for piece in _pieces(sentence, max_tokens):
                sentences.append(_Sentence(piece, n, _tokens(piece), page))
        out.append(sentences)
    return out


def _join(sentences: list[_Sentence]) -> str:
    out = ""
    for i, s in enumerate(sentences):
        if i:
            out += "\n\n" if s.paragraph != sentences[i - 1].paragraph else " "
        out += s.text
    return out


class _Packer:
    def __init__(self, max_tokens: int, overlap_tokens: int) -> None:
        self.max = max_tokens
        self.overlap = overlap_tokens
        self.passages: list[str] = []
        self.pages: list[int | None] = []  # where each passage's new text starts
        self.current: list[_Sentence] = []
        self.size = 0
        self.fresh = 0  # sentences in `current` that no earlier passage holds

    def emit(self, before: int) -> None:
        """End the passage; carry its tail, leaving room for ``before`` more tokens."""
        self.passages.append(_join(self.current))
        self.pages.append(self.current[len(self.current) - self.fresh].page)
        carried: list[_Sentence] = []
        size = 0
        for s in reversed(self.current):
            if size + s.tokens > self.overlap or size + s.tokens + before > self.max:
                break
            carried.insert(0, s)
            size += s.tokens
        self.current, self.size, self.fresh = carried, size, 0

    def add(self, sentence: _Sentence) -> None:
        if self.fresh and self.size + sentence.tokens > self.max:
            self.emit(sentence.tokens)
        self.current.append(sentence)
        self.size += sentence.tokens
        self.fresh += 1

    def finish(self) -> list[tuple[str, int | None]]:
        if self.fresh:
            self.passages.append(_join(self.current))
            self.pages.append(self.current[len(self.current) - self.fresh].page)
        return list(zip(self.passages, self.pages, strict=True))


def split_passages(text: str, *, max_tokens: int = 200, overlap_tokens: int = 40) -> list[str]:
    """Passages of at most ``max_tokens`` tokens (estimated at four characters a token)."""
    return [p for p, _ in split_pages(text, max_tokens=max_tokens,
                                      overlap_tokens=overlap_tokens)]


def split_pages(text: str, *, max_tokens: int = 200, overlap_tokens: int = 40,
                ) -> list[tuple[str, int | None]]:
    """Passages as :func:`split_passages` makes them, each with the page it is on: a
    passage never spans a page break (PAGE_BREAK), and no overlap is carried across one.
    The page is None for a text without page breaks."""
    if max_tokens < 8:
        raise ValueError("max_tokens must be at least 8")
    if not 0 <= overlap_tokens < max_tokens:
        raise ValueError("overlap_tokens must be between 0 and max_tokens")
    packer = _Packer(max_tokens, overlap_tokens)
    page = None
    for sentences in _paragraphs(text, max_tokens):
        total = sum(s.tokens for s in sentences)
        if packer.fresh and sentences[0].page != page:
            # A new page starts a new passage, with nothing of the page before: a
            # citation names the one page its passage is on.
            packer.emit(packer.max)
        elif packer.fresh and packer.size + total > packer.max and total <= packer.max:
            # The paragraph fits a passage of its own: break before it, not inside it.
            packer.emit(total)
        page = sentences[0].page
        for s in sentences:
            packer.add(s)
    return packer.finish()
