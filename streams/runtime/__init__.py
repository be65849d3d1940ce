"""Runtimes bind stages to topics: Kafka (Faust over aiokafka) and the embedded log."""

from streams.runtime.base import Broadcast, Emit, Publisher, Record, Runtime, StageSpec

__all__ = ("Broadcast", "Emit", "Publisher", "Record", "Runtime", "StageSpec")
