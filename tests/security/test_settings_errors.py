"""#17.15 secrets in errors: a settings error names the setting, never the value given.

Attack: read a terminal or a log where the edge failed to start, and find the JWT secret
or a provider key in the error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.security.support import edge_env

JWT = "too-short-but-secret-7f3a"
OPENAI = "sk-proj-DoNotPrintThisKey-91c2e"


@pytest.mark.parametrize("bad", [
    {"CHATSTREAM_AUTH": "jwt", "CHATSTREAM_JWT_SECRET": JWT},  # too short
    {"CHATSTREAM_PARTITIONS": f"not-a-number-{JWT}"},
    {"CHATSTREAM_ENDPOINTS": '{"Bad Name": {"base_url": "x", "api_key": "' + OPENAI + '"}}'},
    {"CHATSTREAM_ENDPOINTS": '{"ok": {"base_url": "x", "api_key": 42, "extra": "'
     + OPENAI + '"}}'},
    {"CHATSTREAM_TRUSTED_PROXIES": f'["{JWT}"]'},
])
def test_invalid_settings_never_echo_a_value(tmp_path: Path, bad: dict[str, str]) -> None:
    env = {**os.environ, **edge_env(tmp_path), "CHATSTREAM_OPENAI_API_KEY": OPENAI,
           "CHATSTREAM_JWT_SECRET": JWT, **bad}
    # Any command reads the settings first; this one would return at once if they were
    # valid.
    run = subprocess.run([sys.executable, "-m", "chatstream.cli", "topics", "create"],
                         env=env, capture_output=True, text=True, timeout=120)
    out = run.stdout + run.stderr
    assert run.returncode == 2, out
    assert "invalid settings" in run.stderr
    assert next(iter(bad)) in run.stderr or "CHATSTREAM_" in run.stderr
    for secret in (JWT, OPENAI, "DoNotPrint", "7f3a"):
        assert secret not in out, out
