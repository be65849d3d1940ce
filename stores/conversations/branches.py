"""A conversation's messages as a tree, and the branch through one of them.

Each message follows a parent: its ``parent_id`` when it names one ("" for the start),
else the message stored just before it (so a conversation written before branches, or by
clients that never name a parent, is one line). An edited question and a regenerated
answer are siblings of what they replace; the history a model reads is the branch from
the start to the message it follows.
"""

from __future__ import annotations

from collections.abc import Sequence

from stores.conversations.base import StoredMessage

__all__ = ("branch", "parents")


def parents(messages: Sequence[StoredMessage]) -> dict[str, str | None]:
    """Each message's parent id (None: the conversation's start), ``messages`` oldest
    first. A parent that is not among them (older than those read, or unknown) is kept as
    named: the branch ends there."""
    out: dict[str, str | None] = {}
    previous: str | None = None
    for m in messages:
        if m.parent_id is None:
            out[m.id] = previous
        else:
            out[m.id] = m.parent_id or None
        previous = m.id
    return out


def branch(messages: Sequence[StoredMessage], tip: str | None) -> list[StoredMessage]:
    """The messages from the start (or the oldest of ``messages`` on the way) to ``tip``,
    oldest first; empty when ``tip`` is None or not among them."""
    by_id = {m.id: m for m in messages}
    parent = parents(messages)
    out: list[StoredMessage] = []
    seen: set[str] = set()
    at = tip
    while at is not None and at in by_id and at not in seen:  # a cycle cannot loop forever
        seen.add(at)
        out.append(by_id[at])
        at = parent[at]
    out.reverse()
    return out
