"""The model catalogue file: the shipped one loads; a bad one refuses to start and says
which line is at fault."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kernel.catalogue import load_catalogue, parse_catalogue
from kernel.errors import ConfigurationError

GOOD = """\
models:
  - name: a
    provider: openai
    upstream: gpt-x
    fallbacks: [b, c]
  - name: b
    provider: groq
    upstream: llama-x
    fallbacks: [d]
  - name: c
    provider: openai-compatible
    endpoint: openrouter
    upstream: meta-llama/llama-3.3-70b-instruct
    context_window: 131072
    tier: pro
  - name: d
    provider: local
    upstream: extractive-v1
"""


def _error(text: str) -> str:
    with pytest.raises(ConfigurationError) as caught:
        parse_catalogue(text, "models.yaml")
    return str(caught.value)


def test_the_shipped_catalogue_loads_with_the_offline_models_first() -> None:
    catalogue = load_catalogue(None)
    first, second = catalogue.models[:2]
    assert (first.name, first.provider, first.offline) == ("smollm2", "llama-cpp", True)
    assert first.fallbacks == ("extractive",)
    assert (second.name, second.provider, second.offline) == ("extractive", "extractive", True)
    for m in catalogue.models:
        assert catalogue.chain(m.name)[0] == m


def test_the_chain_is_the_model_then_its_fallbacks_breadth_first() -> None:
    catalogue = parse_catalogue(GOOD)
    assert [m.name for m in catalogue.chain("a")] == ["a", "b", "c", "d"]
    assert catalogue.get("c") is not None
    assert catalogue.get("c").provider_key == "openrouter"  # type: ignore[union-attr]
    assert catalogue.get("b").provider_key == "groq"  # type: ignore[union-attr]


def test_a_cycle_in_fallbacks_names_its_line() -> None:
    text = GOOD.replace("    fallbacks: [d]\n", "    fallbacks: [d]\n", 1).replace(
        "    upstream: extractive-v1\n", "    upstream: extractive-v1\n    fallbacks: [a]\n")
    message = _error(text)
    assert "models.yaml, line 19" in message
    assert "cycle: a -> b -> d -> a" in message


def test_an_unknown_provider_names_its_line() -> None:
    message = _error(GOOD.replace("provider: groq", "provider: azure"))
    assert "models.yaml, line 7" in message
    assert "unknown provider 'azure'" in message


def test_a_key_in_the_catalogue_is_refused() -> None:
    message = _error(GOOD.replace("    upstream: gpt-x\n",
                                  "    upstream: gpt-x\n    api_key: sk-live-123\n"))
    assert "line 5" in message and "come from settings" in message
    assert "sk-live-123" not in message


@pytest.mark.parametrize(("change", "line", "words"), [
    (("fallbacks: [d]", "fallbacks: [zz]"), 9, "unknown model 'zz'"),
    (("  - name: c\n", "  - name: a\n"), 10, "defined twice"),
    (("    endpoint: openrouter\n", ""), 10, "needs `endpoint: NAME`"),
    (("context_window: 131072", "context_window: 0"), 14, "context_window"),
])
def test_other_mistakes_name_their_line(change: tuple[str, str], line: int, words: str) -> None:
    message = _error(GOOD.replace(*change))
    assert f"line {line}" in message and words in message


def test_chatstream_refuses_to_start_with_a_bad_catalogue(tmp_path: Path) -> None:
    bad = tmp_path / "models.yaml"
    bad.write_text(GOOD.replace("provider: groq", "provider: azure"))
    env = {**os.environ, "CHATSTREAM_MODELS_FILE": str(bad),
           "CHATSTREAM_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run([sys.executable, "-m", "chatstream.cli", "up", "--port", "0"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert f"{bad}, line 7" in done.stderr and "unknown provider 'azure'" in done.stderr
    assert "listening" not in done.stdout
