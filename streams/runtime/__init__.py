"""Runtimes bind stages to topics: Kafka (Faust over aiokafka) and the embedded log."""

from streams.runtime.base import Emit, Publisher, Record, Runtime, StageSpec

__all__ = ("Emit", "Publisher", "Record", "Runtime", "StageSpec")
