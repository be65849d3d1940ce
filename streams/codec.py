"""The JSON codec: events to bytes and back, validated against the topic's value type."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from kernel.errors import PoisonEvent
from schemas.topics import TopicSpec

__all__ = ("decode", "encode", "fields")


def encode(event: BaseModel) -> bytes:
    return event.model_dump_json().encode()


def fields(value: bytes) -> dict[str, Any]:
    """An event's JSON object, not validated: for a reader that needs a few of its fields
    and cannot afford (or may not get) a valid event: the relay's token events, a
    record being dead-lettered."""
    try:
        found = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise PoisonEvent(f"not JSON: {exc}") from exc
    if not isinstance(found, dict):
        raise PoisonEvent("not a JSON object")
    return found


def decode(topic: TopicSpec, value: bytes) -> Any:
    try:
        return topic.adapter().validate_json(value)
    except ValidationError as exc:
        raise PoisonEvent(f"not a valid {topic.name} event: {exc.error_count()} errors") from exc
