"""Addresses of the real servers `make services` starts, and a check that they are up."""

from __future__ import annotations

import os
import socket

__all__ = ("CASSANDRA", "KAFKA", "WEAVIATE", "require")

KAFKA = f"127.0.0.1:{os.environ.get('CHATSTREAM_KAFKA_PORT', '9092')}"
CASSANDRA = f"127.0.0.1:{os.environ.get('CHATSTREAM_CASSANDRA_PORT', '9042')}"
WEAVIATE = f"127.0.0.1:{os.environ.get('CHATSTREAM_WEAVIATE_PORT', '8080')}"


def require(address: str, name: str) -> None:
    """Fail (never skip) when a real server the suite needs is not listening."""
    host, port = address.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except OSError as exc:
        raise AssertionError(
            f"{name} is not reachable at {address} ({exc}); start it with `make services`"
        ) from exc
