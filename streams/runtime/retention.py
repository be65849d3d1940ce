"""Retention of the topics: how long each keeps its records, on both runtimes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kernel.settings import TopicRetention
from schemas.stages import topic_name
from schemas.topics import ALL_TOPICS

__all__ = ("Retention", "topic_retention")


@dataclass(frozen=True)
class Retention:
    """How long a topic keeps its records: ``ms`` of age and ``bytes`` per partition
    (``-1``: no limit), or the newest record of each key when ``compacted``."""

    ms: int = -1
    bytes: int = -1
    compacted: bool = False


def topic_retention(prefix: str = "", overrides: Mapping[str, TopicRetention] | None = None
                    ) -> dict[str, Retention]:
    """Each registered topic's retention by its prefixed name: its spec's, with the
    fields ``overrides`` (by unprefixed topic name) sets."""
    out = {}
    for t in ALL_TOPICS:
        o = (overrides or {}).get(t.name) or TopicRetention()
        out[topic_name(t, prefix)] = Retention(t.retention_ms if o.ms is None else o.ms,
                                         t.retention_bytes if o.bytes is None else o.bytes,
                                         t.compacted)
    return out
