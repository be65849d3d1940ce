"""The OpenAI Agents SDK (``openai-agents``) against chatstream, with both of its OpenAI
model classes (``OpenAIChatCompletionsModel`` on /v1/chat/completions,
``OpenAIResponsesModel`` on /v1/responses): a function tool the model calls, structured
output (``output_type``) and a streamed run, as its user sees them.

The SDK's top-level module is ``agents``, the stages' package, so it runs in a virtualenv
of its own (tests/clients/requirements-openai-agents.txt, built once by harness/venvs.py)
as a separate, isolated process: tests/clients/openai_agents_run.py, run once per stack;
the tests below read what it printed and what the fake upstream was asked.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.fake_models import FakeModelServer, FakeToolCall, Reply, SeenRequest
from harness.venvs import ensure_venv
from tests.support.stacks import Stack

HERE = Path(__file__).parent
SCRIPT = HERE / "openai_agents_run.py"
REQUIREMENTS = HERE / "requirements-openai-agents.txt"
KINDS = ("chat", "responses")
RUNS = ("tool", "followup", "structured", "streamed")
WEATHER = "Sunny and 24 C in Porto."  # what the script's tool returns for Porto
ANSWER = "It is sunny in Porto today, 24 degrees."
FOLLOWUP = "No hat needed, but take sunglasses."
CITY = {"name": "Porto", "country": "Portugal"}


@dataclass
class Seen:
    runs: dict[str, dict[str, Any]]
    """What the SDK returned, by ``kind.run``."""
    upstream: dict[str, list[SeenRequest]]
    """The requests the fake model received for each run."""

    def run(self, key: str) -> dict[str, Any]:
        failed = [f"{k}: {v['error']}" for k, v in self.runs.items() if "error" in v]
        assert key in self.runs, f"{key} not run; stopped at {failed}"
        found = self.runs[key]
        assert "error" not in found, f"{key} raised {found['error']}"
        return found


@pytest.fixture(scope="session")
def agents_python() -> Path:
    return ensure_venv(REQUIREMENTS, "openai-agents-venv") / "bin/python"


def _plan(fake: FakeModelServer, marker: str) -> None:
    """The model's replies to each run's question (``{marker} {kind}.{run}``), in the
    order its calls come: a tool call then the answer with its result, or one answer."""
    weather = Reply.calling(FakeToolCall("get_weather", '{"city": "Porto"}'))
    replies = {"tool": (weather, Reply.stream(ANSWER)), "followup": (Reply.stream(FOLLOWUP),),
               "structured": (Reply.stream(json.dumps(CITY)),),
               "streamed": (weather, Reply.stream(ANSWER))}
    for kind in KINDS:
        for run in RUNS:
            fake.plan(*replies[run], marker=f"{marker} {kind}.{run}")


@pytest.fixture(scope="module")
async def seen(stack: Stack, fake_model: FakeModelServer, agents_python: Path) -> Seen:
    marker = f"[agents-{os.urandom(5).hex()}]"
    _plan(fake_model, marker)
    proc = await asyncio.create_subprocess_exec(
        # -I: nothing of the repository (nor PYTHONPATH) on its path, so `agents` is
        # the SDK's; its environment carries no key of ours either.
        str(agents_python), "-I", "-W", "error", str(SCRIPT),
        "--base-url", f"{stack.url}/v1", "--api-key", "dev", "--model", "fake",
        "--marker", marker, "--models", ",".join(KINDS),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={"PATH": os.environ.get("PATH", ""), "OPENAI_AGENTS_DISABLE_TRACING": "1"})
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 240)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode == 0, err.decode()[-4000:]
    printed = json.loads(out)
    assert printed["reached"] == [], "the SDK tried to leave loopback"
    return Seen(printed["runs"], {f"{kind}.{run}": _asked(fake_model, f"{marker} {kind}.{run}")
                                  for kind in KINDS for run in RUNS})


def _asked(fake: FakeModelServer, question: str) -> list[SeenRequest]:
    """The upstream requests made for the run asking ``question`` (a later turn of its
    conversation carries it too, but asks another question last)."""
    return [r for r in fake.asked(question)
            if question in [m["content"] for m in r.messages if m["role"] == "user"][-1]]


def _tool_turn(request: SeenRequest) -> tuple[list[str], dict[str, Any]]:
    """The tool calls of the assistant message the request ends with, and its tool message."""
    *_, assistant, tool = request.messages
    return [c["function"]["name"] for c in assistant["tool_calls"]], tool


@pytest.mark.parametrize("kind", KINDS)
def test_the_model_calls_a_function_tool(seen: Seen, kind: str) -> None:
    found = seen.run(f"{kind}.tool")
    assert found["tool_calls"] == [{"city": "Porto"}]
    assert found["final_output"] == ANSWER
    assert [i["type"] for i in found["items"]] == [
        "tool_call_item", "tool_call_output_item", "message_output_item"]
    call, output = found["items"][:2]
    assert call["name"] == "get_weather" and json.loads(call["arguments"]) == {"city": "Porto"}
    assert output["output"] == WEATHER and output["call_id"] == call["call_id"]
    # The model was offered the tool, then given its result for the call it made.
    first, second = seen.upstream[f"{kind}.tool"]
    [tool] = first.body["tools"]
    assert tool["function"]["name"] == "get_weather"
    assert list(tool["function"]["parameters"]["properties"]) == ["city"]
    names, result = _tool_turn(second)
    assert names == ["get_weather"]
    assert result["role"] == "tool" and result["content"] == WEATHER
    # The upstream's usage of both calls, relayed (the fake counts a token per word).
    assert found["usage"]["requests"] == 2 and found["usage"]["input_tokens"] > 0
    assert found["usage"]["output_tokens"] == len(ANSWER.split())


@pytest.mark.parametrize("kind", KINDS)
def test_the_next_turn_sends_the_conversation_back(seen: Seen, kind: str) -> None:
    found = seen.run(f"{kind}.followup")
    assert found["final_output"] == FOLLOWUP and found["tool_calls"] == []
    [asked] = seen.upstream[f"{kind}.followup"]
    system, question, call, result, answer, followup = asked.messages
    assert [system["role"], question["role"], followup["role"]] == ["system", "user", "user"]
    [sent] = call["tool_calls"]
    assert sent["function"] == {"name": "get_weather", "arguments": '{"city": "Porto"}'}
    assert result == {"role": "tool", "tool_call_id": sent["id"], "content": WEATHER}
    assert answer == {"role": "assistant", "content": ANSWER}


@pytest.mark.parametrize("kind", KINDS)
def test_structured_output_is_the_output_type(seen: Seen, kind: str) -> None:
    found = seen.run(f"{kind}.structured")
    assert found["output_type"] == "City" and found["final_output"] == CITY
    [asked] = seen.upstream[f"{kind}.structured"]
    schema = asked.body["response_format"]["json_schema"]
    assert asked.body["response_format"]["type"] == "json_schema"
    assert sorted(schema["schema"]["properties"]) == ["country", "name"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_streamed_run_streams_text_after_the_tool(seen: Seen, kind: str) -> None:
    found = seen.run(f"{kind}.streamed")
    assert found["complete"] and found["final_output"] == ANSWER
    assert found["item_events"] == ["tool_called", "tool_output", "message_output_created"]
    assert found["tool_calls"] == [{"city": "Porto"}]
    # Token by token, not one block at the end (the stacks relay 16 characters a frame).
    assert len(found["deltas"]) > 1 and "".join(found["deltas"]) == ANSWER
    assert len(seen.upstream[f"{kind}.streamed"]) == 2

