"""Contiguous offset tracking: what may be committed when events finish out of order."""

from __future__ import annotations

__all__ = ("OffsetTracker",)


class OffsetTracker:
    """Per partition, the next offset to commit: one past the last of an unbroken run of
    finished offsets, so a crash never skips an event that was still in flight."""

    def __init__(self, start: int) -> None:
        self.committable = start
        self._done: set[int] = set()
        self._gaps: dict[int, int] = {}

    def done(self, offset: int) -> None:
        self._done.add(offset)
        self._advance()

    def skip(self, start: int, below: int) -> None:
        """Offsets ``start`` to ``below`` hold no record (dropped by retention or by
        compaction): they count as finished once everything before them is."""
        if below > start:
            self._gaps[start] = below
            self._advance()

    def _advance(self) -> None:
        while True:
            if self.committable in self._done:
                self._done.remove(self.committable)
                self.committable += 1
            elif self.committable in self._gaps:
                self.committable = self._gaps.pop(self.committable)
            else:
                return
