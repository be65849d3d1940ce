"""The opening of an answer on the OpenAI-compatible routes, before it is rendered:

- its HTTP status waits for the answer's first event, so a failure before anything was
  sent (an upstream's 400 or 429, every model down) is an HTTP error the SDKs raise and
  retry as they would the upstream's own, not a 200 with an error inside;
- headers say what was done to fit its history into the model's window.
"""

from __future__ import annotations

from api.relay.events import Relayed, Started
from api.relay.stream import RequestStream

__all__ = ("OPENING_WAIT_S", "first_event", "history_headers")

OPENING_WAIT_S = 30.0
"""How long a streamed answer's status waits for its first event; after that the stream
opens (with keep-alives) and a later failure is an error event inside it."""


async def first_event(stream: RequestStream, wait_s: float = OPENING_WAIT_S,
                      ) -> Relayed | None:
    """The answer's first event once it came; None when none came within ``wait_s``."""
    batches = stream.follow(0, wait_s)
    try:
        batch = await anext(batches, None)
    finally:
        close = getattr(batches, "aclose", None)
        if close is not None:
            await close()
    return batch[0] if batch else None


def history_headers(first: Relayed | None) -> dict[str, str]:
    """``X-Chatstream-History-Summarized`` and ``-Dropped``: how many of the turns the
    client sent were folded into a summary, and how many were left out."""
    if not isinstance(first, Started):
        return {}
    out = {}
    if first.summarized_turns:
        out["X-Chatstream-History-Summarized"] = str(first.summarized_turns)
    if first.dropped_turns:
        out["X-Chatstream-History-Dropped"] = str(first.dropped_turns)
    return out
