"""The JSON codec: events to bytes and back, validated against the topic's value type."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from kernel.errors import PoisonEvent
from schemas.topics import TopicSpec

__all__ = ("decode", "encode")


def encode(event: BaseModel) -> bytes:
    return event.model_dump_json().encode()


def decode(topic: TopicSpec, value: bytes) -> Any:
    try:
        return topic.adapter().validate_json(value)
    except ValidationError as exc:
        raise PoisonEvent(f"not a valid {topic.name} event: {exc.error_count()} errors") from exc
