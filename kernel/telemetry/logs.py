"""Logging: one JSON object per line (ts, level, logger, message, request_id, trace_id,
span_id) when stderr is not a terminal or LOG_FORMAT is ``json``; readable text in a
terminal. Secrets are redacted in both."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

__all__ = ("JsonFormatter", "TextFormatter", "redact", "request_id_var", "setup_logging")

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "chatstream_request_id", default=None)

# key=value / "key": "value" pairs whose key names a secret, and bare OpenAI-style keys.
_PAIR = re.compile(
    r"""(?i)(["']?[\w.-]*(?:api[_-]?key|password|passwd|token|secret|authorization)"""
    r"""["']?\s*[:=]\s*)(["']?)(?:Bearer\s+|Basic\s+)?[^\s"',;&}]+""")
_SK = re.compile(r"\bsk-[A-Za-z0-9_-]{3,}")
_BEARER = re.compile(r"(?i)\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}")


def redact(text: str) -> str:
    text = _PAIR.sub(r"\1\2[REDACTED]", text)
    text = _BEARER.sub(r"\1 [REDACTED]", text)
    return _SK.sub("sk-[REDACTED]", text)


class _Context(logging.Filter):
    """Adds the request id and the current trace and span ids to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = getattr(record, "request_id", None) or request_id_var.get()
        ctx = trace.get_current_span().get_span_context()
        record.trace_id = f"{ctx.trace_id:032x}" if ctx.is_valid else None
        record.span_id = f"{ctx.span_id:016x}" if ctx.is_valid else None
        return True


class _Repeats(logging.Filter):
    """Lets one warning per message template through every ``window_s`` from the
    client libraries, which log the same line thousands of times a second while a
    server is down; the next one let through says how many were held back."""

    LIBRARIES = ("aiokafka", "kafka", "faust", "mode", "cassandra", "weaviate")

    def __init__(self, window_s: float = 10.0) -> None:
        super().__init__()
        self._window_s = window_s
        self._seen: dict[tuple[str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or not record.name.startswith(self.LIBRARIES):
            return True
        key = (record.name, str(record.msg))
        first, held = self._seen.get(key, (0.0, 0))
        if record.created - first < self._window_s:
            self._seen[key] = (first, held + 1)
            return False
        if len(self._seen) > 1000:
            self._seen.clear()  # bounded: templates are few, but args may be folded in
        self._seen[key] = (record.created, 0)
        if held:
            record.msg = f"{record.msg} (and {held} more like this in the last " \
                         f"{record.created - first:.0f}s)"
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name,
            "message": redact(record.getMessage()),
            "request_id": getattr(record, "request_id", None),
            "trace_id": getattr(record, "trace_id", None),
            "span_id": getattr(record, "span_id", None),
        }
        if record.exc_info:
            out["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(out, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        rid, tid = getattr(record, "request_id", None), getattr(record, "trace_id", None)
        extra = "".join(f" {k}={v}" for k, v in (("request_id", rid), ("trace_id", tid)) if v)
        return redact(line + extra)


def setup_logging(level: str, fmt: str = "auto") -> None:
    """``fmt``: ``json``, ``text`` or ``auto`` (JSON unless stderr is a terminal)."""
    json_lines = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    handler.addFilter(_Repeats())
    handler.addFilter(_Context())
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level.upper())
