"""Contiguous offset tracking: what may be committed when events finish out of order."""

from __future__ import annotations

__all__ = ("OffsetTracker",)


class OffsetTracker:
    """Per partition, the next offset to commit: one past the last of an unbroken run of
    finished offsets, so a crash never skips an event that was still in flight."""

    def __init__(self, start: int) -> None:
        self.committable = start
        self._done: set[int] = set()

    def done(self, offset: int) -> None:
        self._done.add(offset)
        while self.committable in self._done:
            self._done.remove(self.committable)
            self.committable += 1
