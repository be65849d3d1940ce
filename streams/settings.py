"""Settings: one pydantic-settings class, environment prefix ``CHATSTREAM_``, ``.env`` read.

Nothing reads the environment at import time; call :func:`get_settings`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ("Settings", "get_settings")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CHATSTREAM_", env_file=".env", extra="ignore", frozen=True
    )

    broker: str = Field("memory://", description="`memory://` or `kafka://host:port,...`")
    store: str = Field("", description="`sqlite:///path` or `cassandra://h:p/keyspace`; "
                       "empty: SQLite under DATA_DIR")
    vectors: str = Field("", description="`embedded:///path` or `weaviate://h:p`; "
                         "empty: embedded under DATA_DIR. Accepted and validated now; "
                         "document retrieval (issue 5) will use it")
    data_dir: Path = Field(Path(".chatstream"), description="where embedded data lives")
    host: str = Field("127.0.0.1", description="edge bind address")
    port: int = Field(8000, description="edge port")
    topic_prefix: str = Field("", description="prefix for topic and consumer group names "
                              "(separates environments sharing one cluster)")
    partitions: int = Field(6, ge=1, description="partitions of each chat topic when created")
    replication_factor: int = Field(1, ge=1, description="replication of topics when created")
    models_file: Path | None = Field(None, description="model catalogue (YAML); "
                                     "empty: the shipped catalogue")
    default_model: str = Field("local", description="model used when a request names none")
    max_message_chars: int = Field(16_000, ge=1, description="longer messages get 413")
    history_turns: int = Field(20, ge=0, description="recent turns retrieval loads")
    local_model_delay_ms: float = Field(15.0, ge=0, description="pace of the offline model, "
                                        "per word")
    chunk_max_ms: float = Field(40.0, ge=0, description="token chunks are flushed after this")
    chunk_max_chars: int = Field(64, ge=1, description="... or at this many characters")
    relay_lookback_s: float = Field(600.0, ge=0, description="how far back a starting edge "
                                    "reads the token topic, so any replica can serve "
                                    "streams already under way")
    stage_retries: int = Field(3, ge=0, description="tries of an event before dead-lettering")
    inference_concurrency: int = Field(64, ge=1, description="answers one inference worker "
                                       "generates at once")
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR")

    @field_validator("broker")
    @classmethod
    def _known_broker(cls, v: str) -> str:
        if urlparse(v).scheme not in ("memory", "kafka"):
            raise ValueError("broker must be memory:// or kafka://host:port[,host:port]")
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

    @property
    def kafka_bootstrap(self) -> str:
        return self.broker.removeprefix("kafka://")

    @property
    def store_url(self) -> str:
        return self.store or f"sqlite:///{(self.data_dir / 'chatstream.db').resolve()}"

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
