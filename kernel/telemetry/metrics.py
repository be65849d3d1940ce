"""The Prometheus metrics of every chatstream process, and their exposition.

Each process serves its own registry on /metrics (the edge on its port, workers on
WORKER_PORT). A deployment that forks workers of one process (e.g. gunicorn) sets
``PROMETHEUS_MULTIPROC_DIR``; :func:`exposition` then aggregates every child's files.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.registry import REGISTRY

__all__ = (
    "ANSWER_SECONDS", "BREAKER_STATE", "CONSUMER_LAG", "DEAD_LETTERS", "FAILOVERS",
    "GEN_AI_DURATION", "GEN_AI_TOKENS", "HTTP_REQUESTS", "HTTP_SECONDS", "PROVIDER_RETRIES",
    "QUOTA_REFUSALS", "SSE_OPEN",
    "STAGE_EVENTS", "STAGE_SECONDS", "TOKENS_OUT", "TTFT_SECONDS", "exposition",
)

_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)

HTTP_REQUESTS = Counter("chatstream_http_requests", "HTTP requests served by the edge",
                        ["route", "method", "status"])
HTTP_SECONDS = Histogram("chatstream_http_request_seconds", "time to the response's "
                         "headers, by route template", ["route", "method"], buckets=_LATENCY)
SSE_OPEN = Gauge("chatstream_sse_streams_open", "SSE answer streams open on this edge",
                 multiprocess_mode="livesum")
TTFT_SECONDS = Histogram("chatstream_ttft_seconds", "time from the context reaching "
                         "inference to the first token", ["model", "provider"],
                         buckets=_LATENCY)
ANSWER_SECONDS = Histogram("chatstream_answer_seconds", "time to generate a whole answer",
                           ["model", "provider"], buckets=_LATENCY)
TOKENS_OUT = Counter("chatstream_tokens_out", "completion tokens generated (rate() is "
                     "tokens per second)", ["model", "provider"])
STAGE_EVENTS = Counter("chatstream_stage_events", "events a stage read (in), emitted (out), "
                       "failed an attempt on (error) or dead-lettered (dead_letter)",
                       ["stage", "topic", "outcome"])
STAGE_SECONDS = Histogram("chatstream_stage_handle_seconds", "time a stage spent on one "
                          "event, retries included", ["stage"], buckets=_LATENCY)
DEAD_LETTERS = Counter("chatstream_dead_letters", "events a stage sent to chat.dlq.v1",
                       ["stage"])
PROVIDER_RETRIES = Counter("chatstream_provider_retries", "retries of a model provider "
                           "before its first token", ["provider"])
FAILOVERS = Counter("chatstream_failovers", "answers that moved on from a model to the next "
                    "of its fallback chain", ["from_model", "provider"])
BREAKER_STATE = Gauge("chatstream_breaker_state", "circuit breaker of a provider: 0 closed, "
                      "1 half-open, 2 open", ["provider"], multiprocess_mode="max")
CONSUMER_LAG = Gauge("chatstream_consumer_lag", "records of a stage's input partition not "
                     "yet committed by its consumer group", ["stage", "topic", "partition"],
                     multiprocess_mode="max")
# OpenTelemetry's GenAI semantic conventions, under the names an OTel-to-Prometheus
# exporter gives `gen_ai.client.token.usage` and `gen_ai.client.operation.duration`, so
# the community's GenAI dashboards work unchanged beside chatstream's own metrics.
_GEN_AI_LABELS = ["gen_ai_operation_name", "gen_ai_system", "gen_ai_request_model",
                  "gen_ai_response_model"]
GEN_AI_TOKENS = Histogram(
    "gen_ai_client_token_usage", "tokens used per model call, by gen_ai_token_type "
    "(input or output)", [*_GEN_AI_LABELS, "gen_ai_token_type"],
    buckets=(1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304))
GEN_AI_DURATION = Histogram(
    "gen_ai_client_operation_duration_seconds", "duration of a model call (the whole "
    "streamed answer)", _GEN_AI_LABELS, buckets=_LATENCY)
STORE_STATEMENTS = Counter("chatstream_store_statements", "Cassandra statements sent, by "
                           "kind: verb and table, `+if` for a conditional (Paxos) write, "
                           "BATCH for a batch", ["kind"])
QUOTA_REFUSALS = Counter("chatstream_quota_refusals", "requests refused by a tenant quota "
                         "(429)", ["limit"])


def exposition() -> tuple[bytes, str]:
    """The text format of this process' metrics (all children's when multi-process)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
