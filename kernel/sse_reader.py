"""Reading Server-Sent Events line by line, as a browser's EventSource does.

One reader for every SSE stream chatstream reads: an upstream model's stream (the
inference adapters), and the test and benchmark clients of our own streams (harness).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ("Event", "EventReader")


@dataclass(frozen=True)
class Event:
    event: str
    data: str
    id: str | None

    def json(self) -> Any:
        return json.loads(self.data)


class EventReader:
    """Turns SSE lines into events; ``line`` without its end-of-line. An event is
    dispatched at the blank line after it; comments and unknown fields are skipped."""

    def __init__(self) -> None:
        self._name = "message"
        self._data: list[str] = []
        self._id: str | None = None

    def line(self, line: str) -> Event | None:
        if line == "":
            done = Event(self._name, "\n".join(self._data), self._id) if self._data else None
            self._name, self._data, self._id = "message", [], None
            return done
        if not line.startswith(":"):
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                self._name = value
            elif field == "data":
                self._data.append(value)
            elif field == "id":
                self._id = value
        return None
