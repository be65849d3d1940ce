"""Settings of the document parts: defaults, validation, and secrets kept out of sight."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from pydantic import ValidationError

from kernel.settings import Settings


def test_vectors_default_to_the_embedded_index_under_the_data_dir(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path)
    assert s.vectors_url == f"embedded:///{(tmp_path / 'vectors').resolve()}"
    assert Settings(vectors="weaviate://h:8080").vectors_url == "weaviate://h:8080"


def test_unknown_vectors_and_embedders_are_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(vectors="pinecone://x")
    with pytest.raises(ValidationError):
        Settings(embedder="word2vec")  # type: ignore[arg-type]


def test_overlap_must_stay_below_the_passage_budget() -> None:
    with pytest.raises(ValidationError, match="passage_overlap_tokens"):
        Settings(passage_tokens=50, passage_overlap_tokens=50)


def test_the_embeddings_key_is_never_printed() -> None:
    s = Settings(embeddings_api_key="sk-secret")  # type: ignore[arg-type]
    assert "sk-secret" not in repr(s)
    assert s.embeddings_api_key.get_secret_value() == "sk-secret"


def test_jwt_auth_refuses_a_missing_short_default_or_guessable_secret() -> None:
    for secret in ("", "changethis", "short-secret", "s" * 32, "abcdefgh" * 4,
                   "my-jwt-secret-" + "x" * 40):
        with pytest.raises(ValidationError, match="JWT_SECRET"):
            Settings(auth="jwt", jwt_secret=secret)
    for _ in range(200):  # what `openssl rand -hex 16` and `-base64 24` make passes
        Settings(auth="jwt", jwt_secret=secrets.token_hex(16))
        Settings(auth="jwt", jwt_secret=secrets.token_urlsafe(24))
    secret = secrets.token_hex(32)
    settings = Settings(auth="jwt", jwt_secret=secret)
    assert secret not in repr(settings), "secrets never show in settings' repr"
    assert Settings().auth == "dev"
    assert Settings(jwt_secret="s" * 32).auth == "dev", "dev mode uses no secret"
