"""How deeply a JSON body nests, found in one linear pass over its bytes.

Parsers recurse once per level, so the edge refuses a body nested deeper than
:data:`MAX_JSON_DEPTH` before any parser sees it. The scan reads untrusted bytes on the
event loop that serves everyone, so its cost must not depend on the body's shape: a
pattern for strings that restarts at every quote costs the square of the body (an
unterminated string of escaped quotes: seconds for 48 KB, an hour for 1 MiB). Here each
slice of the body is read by a fixed number of vectorised passes (numpy, the same few
operations whatever the bytes), and the state that crosses a slice's end (depth, inside a
string or not, a pending backslash) is carried to the next, so the boundary can give the
loop back between slices.

The scan follows JSON's own rules for strings and escapes, so it agrees with a parser on
every valid prefix of a body; past the first byte that is not valid JSON the parser stops
(without recursing further), and what the scan counts there no longer matters.
"""

from __future__ import annotations

import asyncio

import numpy as np
import numpy.typing as npt

__all__ = ("MAX_JSON_DEPTH", "SLICE_BYTES", "DepthScan", "json_too_deep",
           "json_too_deep_async")

MAX_JSON_DEPTH = 64
# About a quarter of a millisecond of scanning: the most the loop waits for one slice.
SLICE_BYTES = 64 * 1024

_QUOTE, _BACKSLASH = ord('"'), ord("\\")
_OPEN_ARRAY, _OPEN_OBJECT = ord("["), ord("{")
_CLOSE_ARRAY, _CLOSE_OBJECT = ord("]"), ord("}")


def _may_be_too_deep(body: bytes, limit: int) -> bool:
    # Ordinary bodies open a few brackets: two byte counts and done.
    return body.count(b"[") + body.count(b"{") > limit


class DepthScan:
    """The nesting depth of a body fed in slices, in order; :meth:`feed` says whether
    it went deeper than ``limit`` so far."""

    __slots__ = ("_broken", "_depth", "_escaped", "_in_string", "limit")

    def __init__(self, limit: int = MAX_JSON_DEPTH) -> None:
        self.limit = limit
        self._depth = 0
        self._in_string = False
        self._escaped = False  # the previous slice ended with an escaping backslash
        self._broken = False  # a close with nothing open: a parser stops there

    def feed(self, data: bytes | memoryview) -> bool:
        if self._broken:
            return False
        a: npt.NDArray[np.uint8] = np.frombuffer(data, np.uint8)
        if self._escaped and len(a):
            a, self._escaped = a[1:], False  # the escaped byte is string content
        if not len(a):
            return False
        quotes = a == _QUOTE
        backslashes = a == _BACKSLASH
        if backslashes.any():
            # In a run of backslashes, every other one (from the run's first) escapes
            # the byte after it: ``\\"`` ends a string, ``\"`` does not.
            index = np.arange(len(a), dtype=np.int64)
            starts = backslashes.copy()
            starts[1:] &= ~backslashes[:-1]
            run_start = np.maximum.accumulate(np.where(starts, index, 0))
            escaping = backslashes & (((index - run_start) & 1) == 0)
            quotes[1:] &= ~escaping[:-1]
            self._escaped = bool(escaping[-1])
        step = ((a == _OPEN_ARRAY) | (a == _OPEN_OBJECT)).view(np.int8) \
            - ((a == _CLOSE_ARRAY) | (a == _CLOSE_OBJECT)).view(np.int8)
        if quotes.any():
            inside = (np.cumsum(quotes, dtype=np.int64) & 1).astype(bool)
            if self._in_string:
                inside = ~inside
            step[inside] = 0
            self._in_string = bool(inside[-1])
        elif self._in_string:
            return False  # the whole slice is inside one string
        depth = np.cumsum(step, dtype=np.int64)
        depth += self._depth
        if int(depth.max()) > self.limit:
            return True
        if int(depth.min()) < 0:
            self._broken = True
            return False
        self._depth = int(depth[-1])
        return False


def json_too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``body`` nests arrays and objects deeper than ``limit`` (brackets inside
    strings do not count)."""
    if not _may_be_too_deep(body, limit):
        return False
    scan = DepthScan(limit)
    view = memoryview(body)
    return any(scan.feed(view[i:i + SLICE_BYTES]) for i in range(0, len(body), SLICE_BYTES))


async def json_too_deep_async(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """:func:`json_too_deep`, giving the event loop back after every slice."""
    if not _may_be_too_deep(body, limit):
        return False
    scan = DepthScan(limit)
    view = memoryview(body)
    for i in range(0, len(body), SLICE_BYTES):
        if scan.feed(view[i:i + SLICE_BYTES]):
            return True
        await asyncio.sleep(0)
    return False
