"""Tracing: one trace per message, carried between processes in the W3C ``traceparent``
Kafka header.

Off by default: no TracerProvider is installed, so every span is the API's non-recording
span and injection writes nothing. ``CHATSTREAM_TRACE_EXPORTER`` turns it on:
``console``, ``otlp`` (OTLP/HTTP; endpoint from the standard ``OTEL_EXPORTER_OTLP_*``
variables) or ``jsonl:DIR`` (each process appends its finished spans to
``DIR/<service>-<pid>.jsonl``; used by the end-to-end tests, handy without a collector).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import Span, SpanKind

from kernel.errors import ConfigurationError

__all__ = (
    "JsonlSpanExporter", "annotate", "current_span", "enabled", "extract", "inject",
    "setup_tracing", "shutdown_tracing", "span", "tracer", "with_trace",
)

_provider: TracerProvider | None = None
# Off: the API's no-op tracer (spans are non-recording, nothing is exported).
_tracer: trace.Tracer = trace.NoOpTracer()
# The ids of an event worth putting on its span, under OpenTelemetry-style names.
_ATTRS = {"tenant_id": "chatstream.tenant", "conversation_id": "chatstream.conversation",
          "request_id": "chatstream.request", "model": "chatstream.model",
          "provider": "chatstream.provider", "document_id": "chatstream.document"}


class JsonlSpanExporter(SpanExporter):
    """Finished spans as JSON lines in a file of their own per process."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = []
        for s in spans:
            ctx = s.get_span_context()
            assert ctx is not None
            lines.append(json.dumps({
                "name": s.name, "kind": s.kind.name,
                "trace_id": f"{ctx.trace_id:032x}", "span_id": f"{ctx.span_id:016x}",
                "parent_id": f"{s.parent.span_id:016x}" if s.parent else None,
                "start_ns": s.start_time, "end_ns": s.end_time,
                "status": s.status.status_code.name,
                "service": s.resource.attributes.get("service.name"),
                "pid": os.getpid(), "attributes": dict(s.attributes or {}),
            }))
        with self._lock:
            self._file.write("".join(line + "\n" for line in lines))
            self._file.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self._file.close()


def setup_tracing(exporter: str, service: str) -> bool:
    """Install the process' TracerProvider for ``exporter``; False (and nothing done)
    when tracing is off."""
    global _provider, _tracer
    if not exporter or exporter == "none":
        return False
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    if exporter == "console":
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    elif exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    elif exporter.startswith("jsonl:"):
        path = Path(exporter.removeprefix("jsonl:")) / f"{service}-{os.getpid()}.jsonl"
        provider.add_span_processor(SimpleSpanProcessor(JsonlSpanExporter(path)))
    else:
        raise ConfigurationError(f"unknown trace exporter {exporter!r}: use console, otlp "
                                 "or jsonl:DIR")
    trace.set_tracer_provider(provider)
    _provider = provider
    _tracer = provider.get_tracer("chatstream")
    return True


def enabled() -> bool:
    return _provider is not None


def shutdown_tracing() -> None:
    if _provider is not None:
        _provider.shutdown()


def current_span() -> Span:
    return trace.get_current_span()


def tracer() -> trace.Tracer:
    return _tracer


def annotate(target: Span, event: Any) -> None:
    """Put an event's ids (and those of the request it carries) on a span."""
    if not target.is_recording():
        return
    fields = getattr(event, "__dict__", {})  # a model's values: no getattr misses
    request = fields.get("request")
    attrs: dict[str, Any] = {}
    for source in (getattr(request, "__dict__", {}), fields):
        for name, attr in _ATTRS.items():
            value = source.get(name)
            if isinstance(value, str) and value:
                attrs[attr] = value
    usage = fields.get("usage")
    if usage is not None:
        attrs["chatstream.prompt_tokens"] = usage.prompt_tokens
        attrs["chatstream.completion_tokens"] = usage.completion_tokens
        # OpenTelemetry's GenAI semantic conventions, for standard GenAI trace views.
        attrs["gen_ai.usage.input_tokens"] = usage.prompt_tokens
        attrs["gen_ai.usage.output_tokens"] = usage.completion_tokens
    model, provider = fields.get("model"), fields.get("provider")
    if isinstance(model, str) and isinstance(provider, str) and model:
        attrs["gen_ai.operation.name"] = "chat"
        attrs["gen_ai.system"] = provider
        attrs["gen_ai.request.model"] = model
        attrs["gen_ai.response.model"] = model
        reason = fields.get("finish_reason")
        if isinstance(reason, str):
            attrs["gen_ai.response.finish_reasons"] = (reason,)
    target.set_attributes(attrs)


def inject(headers: tuple[tuple[str, bytes], ...]) -> tuple[tuple[str, bytes], ...]:
    """``headers`` plus the current span's ``traceparent`` (unless one is there)."""
    if _provider is None:
        return headers
    if any(k == "traceparent" for k, _ in headers):
        return headers
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    if not carrier:
        return headers
    return (*headers, *((k, v.encode()) for k, v in carrier.items()))


def with_trace(headers: tuple[tuple[str, bytes], ...],
               event: Any) -> tuple[tuple[str, bytes], ...]:
    """What publishers call: the event's ids on the span publishing it (the edge's
    request span, or a stage's), and that span's ``traceparent`` in the headers."""
    if _provider is None:
        return headers
    annotate(trace.get_current_span(), event)
    return inject(headers)


def extract(headers: Sequence[tuple[str, bytes]] | Mapping[str, str]) -> otel_context.Context:
    if isinstance(headers, Mapping):
        return propagate.extract(headers)
    return propagate.extract({k: v.decode(errors="replace") for k, v in headers})


@contextmanager
def span(name: str, parent: otel_context.Context | None = None,
         kind: SpanKind = SpanKind.INTERNAL) -> Iterator[Span]:
    if _provider is None:
        # Tracing off: no span to start nor context to switch (every request and stage
        # event passes here).
        yield trace.INVALID_SPAN
        return
    with tracer().start_as_current_span(name, context=parent, kind=kind) as s:
        yield s
