"""Markdown to plain text in linear time: block markers dropped line by line, then one
left-to-right pass for links and images, one for emphasis and code spans, one for inline
HTML tags.

Why not regular expressions: the obvious patterns (``\\[([^\\]]+)\\]\\(``, ``\\*(.+?)\\*``,
``<[^>]+>``) fail from every opening mark and rescan to the end of the line each time,
so an upload of one long line of ``[`` or ``*a `` took hours while holding the GIL.
Here every search for a closing mark is remembered (:class:`_Next`), so each pass looks
at each character a bounded number of times.
"""

from __future__ import annotations

import re

__all__ = ("markdown_to_text",)

_FENCES = ("```", "~~~")
_RULE_MARKS = frozenset("-*_")
_EMPHASIS = ("**", "__", "*", "_", "`")
# The marks that may start at a character, longest first (as a regex alternation tries them).
_KINDS = {"*": ("**", "*"), "_": ("__", "_"), "`": ("`",)}
_MARK = re.compile(r"[*_`]")


class _Next:
    """Where the next ``char`` is at or after a position, for positions that never go
    backwards: one ``str.find`` per occurrence instead of one per question."""

    __slots__ = ("_at", "_char", "_text")

    def __init__(self, text: str, char: str) -> None:
        self._text, self._char, self._at = text, char, -1

    def at_or_after(self, i: int) -> int:
        """The index, or ``len(text)`` when there is none."""
        if self._at < i:
            found = self._text.find(self._char, i)
            self._at = found if found >= 0 else len(self._text)
        return self._at


def _heading(line: str) -> str | None:
    """The text of an ATX heading (``## Title ##``), or None if the line is not one."""
    body = line.lstrip(" \t")
    if len(line) - len(body) > 3:
        return None
    hashes = len(body) - len(body.lstrip("#"))
    if not 1 <= hashes <= 6:
        return None
    rest = body[hashes:]
    if rest and rest[0] not in " \t":
        return None
    rest = rest.strip(" \t")
    closing = rest.rstrip("#")
    if closing != rest and (not closing or closing[-1] in " \t"):
        rest = closing.rstrip(" \t")
    return rest


def _list_marker(line: str) -> str:
    body = line.lstrip(" \t")
    if body[:1] in ("-", "*", "+"):
        after = body[1:]
    else:
        digits = len(body) - len(body.lstrip("0123456789"))
        if not digits or body[digits:digits + 1] not in (".", ")"):
            return line
        after = body[digits + 1:]
    if after[:1] not in (" ", "\t"):
        return line
    return after.lstrip(" \t")


def _is_rule(line: str) -> bool:
    marks = 0
    for ch in line:
        if ch in _RULE_MARKS:
            marks += 1
        elif ch not in " \t":
            return False
    return marks >= 3


def _block(line: str) -> str:
    if line.lstrip(" \t").startswith(_FENCES):
        return ""  # the fence goes; the code between fences stays as text
    body = line.lstrip(" \t")
    if body.startswith(">") and len(line) - len(body) <= 3:
        line = body[1:]
        if line[:1] in (" ", "\t"):
            line = line[1:]
    if _is_rule(line):
        return ""
    heading = _heading(line)
    if heading is not None:
        return heading
    return _list_marker(line)


def _links(text: str) -> str:
    """``![alt](src)`` becomes ``alt`` and ``[text](href)`` becomes ``text``."""
    closes, parens = _Next(text, "]"), _Next(text, ")")
    out: list[str] = []
    i, n, copied = 0, len(text), 0
    while (i := text.find("[", i)) >= 0:
        close = closes.at_or_after(i + 1)
        if close >= n:
            break  # no "]" left: no link can start here or later
        if not text.startswith("(", close + 1):
            i = close + 1  # every "[" before this "]" fails the same way
            continue
        end = parens.at_or_after(close + 2)
        if end >= n:
            break  # no ")" left
        image = i > 0 and text[i - 1] == "!"
        if image or close > i + 1:
            out.append(text[copied:i - 1 if image else i])
            out.append(text[i + 1:close])
            copied = end + 1
            i = end + 1
        else:
            i += 1  # "[](...)": a link needs text
    out.append(text[copied:])
    return "".join(out)


def _emphasis(text: str) -> str:
    """``**b**``, ``__b__``, ``*i*``, ``_i_`` and ```code``` lose their marks; a mark
    with no closing partner on the same line stays as it is."""
    newlines = _Next(text, "\n")
    marks = [m.start() for m in _MARK.finditer(text)]
    # The closing marks of each kind (a mark right after a non-space), ascending; with
    # openings met left to right, a cursor into each list only moves forward.
    closers: dict[str, list[int]] = {d: [] for d in _EMPHASIS}
    for j in marks:
        if j and not text[j - 1].isspace():
            for d in _KINDS[text[j]]:
                if text.startswith(d, j):
                    closers[d].append(j)
    cursor = dict.fromkeys(_EMPHASIS, 0)
    out: list[str] = []
    copied = 0
    for i in marks:
        if i < copied:
            continue  # inside a span already replaced
        line_end = newlines.at_or_after(i)
        for d in _KINDS[text[i]]:
            start = i + len(d)
            if start >= line_end or text[start].isspace() or not text.startswith(d, i):
                continue
            ends, k = closers[d], cursor[d]
            while k < len(ends) and ends[k] <= start:
                k += 1
            cursor[d] = k
            if k < len(ends) and ends[k] < line_end:
                out.append(text[copied:i])
                out.append(text[start:ends[k]])
                copied = ends[k] + len(d)
                break
    out.append(text[copied:])
    return "".join(out)


def _tags(text: str) -> str:
    """Inline HTML tags (``<br>``, ``<span class=x>``) go; their text stays."""
    ends, newlines = _Next(text, ">"), _Next(text, "\n")
    out: list[str] = []
    i, n, copied = 0, len(text), 0
    while (i := text.find("<", i)) >= 0:
        end = ends.at_or_after(i + 1)
        if end >= n:
            break  # no ">" left
        line_end = newlines.at_or_after(i)
        if end > line_end:
            i = line_end + 1  # a tag does not span lines: nothing opens before this one
        elif end > i + 1:
            out.append(text[copied:i])
            i = copied = end + 1
        else:
            i += 1  # "<>"
    out.append(text[copied:])
    return "".join(out)


def markdown_to_text(text: str) -> str:
    blocks = "\n".join(_block(line) for line in text.split("\n"))
    return _tags(_emphasis(_links(blocks))).strip()
