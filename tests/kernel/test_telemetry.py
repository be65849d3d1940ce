"""Telemetry pieces that need no server: log lines, redaction, metrics access, spans."""

from __future__ import annotations

import base64
import json
import logging

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from kernel.telemetry.health import from_this_host, metrics_allowed
from kernel.telemetry.logs import JsonFormatter, _Context, redact, request_id_var
from kernel.telemetry.tracing import JsonlSpanExporter


@pytest.mark.parametrize(("raw", "leaked"), [
    ("api_key=sk-live-123456", "sk-live-123456"),
    ('{"password": "hunter2"}', "hunter2"),
    ("Authorization: Bearer abcdefghijklmnop", "abcdefghijklmnop"),
    ("calling with key sk-proj-abcdefgh", "sk-proj-abcdefgh"),
    ("jwt_secret = s3cr3t-value", "s3cr3t-value"),
    ("refresh_token=eyJhbGciOi", "eyJhbGciOi"),
])
def test_secrets_are_redacted(raw: str, leaked: str) -> None:
    assert leaked not in redact(raw)
    assert "REDACTED" in redact(raw)


def test_ordinary_text_is_left_alone() -> None:
    text = "retrieval: handling chat.requests.v1@2:7 request_id=abc tokens=12 type=x"
    assert redact("retrieval: handling chat.requests.v1@2:7 request_id=abc") == \
        "retrieval: handling chat.requests.v1@2:7 request_id=abc"
    assert redact(text) == text  # a count of tokens is not a token


def test_a_json_log_line_carries_the_request_and_trace_ids() -> None:
    record = logging.LogRecord("chatstream.test", logging.WARNING, __file__, 1,
                               "provider said %s", ("api_key=sk-abcdef123",), None)
    token = request_id_var.set("req-1")
    try:
        _Context().filter(record)
    finally:
        request_id_var.reset(token)
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "WARNING"
    assert line["logger"] == "chatstream.test"
    assert line["request_id"] == "req-1"
    assert set(line) >= {"ts", "message", "trace_id", "span_id"}
    assert "sk-abcdef123" not in line["message"]


def test_metrics_need_the_token_when_one_is_set() -> None:
    assert not metrics_allowed(None, "")  # no token: this host only
    assert metrics_allowed(None, "", local=True)
    assert not metrics_allowed(None, "t0k", local=True)
    assert not metrics_allowed(None, "t0k")
    assert metrics_allowed("Bearer t0k", "t0k")
    assert not metrics_allowed("Bearer nope", "t0k")
    basic = base64.b64encode(b"prometheus:t0k").decode()
    assert metrics_allowed(f"Basic {basic}", "t0k")
    assert not metrics_allowed("Basic !!!", "t0k")


def test_this_host_is_a_loopback_peer_no_proxy_relayed_for() -> None:
    assert from_this_host("127.0.0.1", {}) and from_this_host("::1", {})
    assert not from_this_host("192.0.2.7", {})
    assert not from_this_host(None, {}) and not from_this_host("unknown", {})
    for header in ("x-forwarded-for", "forwarded", "x-real-ip"):
        assert not from_this_host("127.0.0.1", {header: "203.0.113.9"})


def test_the_jsonl_exporter_writes_one_line_per_span_with_its_parent(tmp_path) -> None:  # type: ignore[no-untyped-def]
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(JsonlSpanExporter(tmp_path / "s.jsonl")))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("outer") as outer, tracer.start_as_current_span("inner"):
        pass
    provider.shutdown()
    spans = [json.loads(line) for line in (tmp_path / "s.jsonl").read_text().splitlines()]
    assert [s["name"] for s in spans] == ["inner", "outer"]
    assert spans[0]["parent_id"] == f"{outer.get_span_context().span_id:016x}"
    assert spans[0]["trace_id"] == spans[1]["trace_id"]


def _record(name: str, msg: str, created: float, level: int = logging.ERROR) -> logging.LogRecord:
    record = logging.LogRecord(name, level, __file__, 1, msg, ("127.0.0.1",), None)
    record.created = created
    return record


def test_a_library_repeating_itself_during_an_outage_is_held_back_and_counted() -> None:
    from kernel.telemetry.logs import _Repeats

    repeats = _Repeats(window_s=10)
    passed = [r for r in (_record("aiokafka", "Unable connect to %s", 100 + i / 100)
                          for i in range(1000)) if repeats.filter(r)]
    assert len(passed) == 1  # 1000 lines in 10 s: one line
    later = _record("aiokafka", "Unable connect to %s", 111)
    assert repeats.filter(later)
    assert later.getMessage() == "Unable connect to 127.0.0.1 (and 999 more like this " \
                                 "in the last 11s)"
    # Another template, and our own loggers, are never held back.
    assert repeats.filter(_record("aiokafka", "Heartbeat failed %s", 111.5))
    assert all(repeats.filter(_record("streams.runtime.runner", "retrying %s", 112))
               for _ in range(3))
