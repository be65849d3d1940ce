"""What a user of the OpenAI Agents SDK (``openai-agents``) sees when pointed at chatstream:
run by tests/clients/test_openai_agents.py under the interpreter of its own virtualenv
(its top-level module is ``agents``, the name of chatstream's stages package, so it
cannot share the project's), as ``python -I`` so nothing of the repository is on its path.

For each model class given (chat completions, Responses) it runs four things against
``--base-url`` and prints one JSON object with what each returned:

- ``tool``: an agent with a function tool the model calls, then its final text;
- ``followup``: the next turn of that conversation, its items sent back as the SDK keeps them;
- ``structured``: an agent whose ``output_type`` is a Pydantic model;
- ``streamed``: the tool agent again, streamed: its text deltas and item events.

Each question carries ``--marker`` and the run's name, so the test finds the upstream
requests each run made. Tracing is off, and an audit hook refuses (and reports) any
connection or name lookup that is not loopback: the SDK must never reach OpenAI.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import socket
import sys
from typing import Any

from openai import AsyncOpenAI
from pydantic import BaseModel

# The SDK's `agents`, not chatstream's: this runs isolated (-I) in the SDK's own venv.
from agents import (
    Agent,
    Model,
    OpenAIChatCompletionsModel,
    OpenAIResponsesModel,
    Runner,
    RunResult,
    function_tool,
    set_tracing_disabled,
)

LOOPBACK_NAMES = {"localhost"}
reached: list[str] = []
"""Every address outside loopback the process tried to reach."""


def _loopback(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode()
    if not isinstance(host, str):
        return False
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _loopback_only(event: str, args: tuple[Any, ...]) -> None:
    if event == "socket.getaddrinfo" and not _loopback(args[0]):
        reached.append(f"lookup {args[0]}")
        raise PermissionError(f"not loopback: {args[0]}")
    if event == "socket.connect":
        sock, address = args
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
            reached.append(f"connect {address[0]}")
            raise PermissionError(f"not loopback: {address[0]}")


tool_calls: list[dict[str, Any]] = []
"""Every call of the function tool, with the arguments it received."""
history: dict[int, list[Any]] = {}
"""The tool run's conversation as the SDK hands it back, by model."""


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    tool_calls.append({"city": city})
    return f"Sunny and 24 C in {city}."


class City(BaseModel):
    name: str
    country: str


def _items(result: RunResult) -> list[dict[str, Any]]:
    out = []
    for item in result.new_items:
        raw = item.raw_item
        seen: dict[str, Any] = {"type": item.type}
        if item.type == "tool_call_item":
            seen |= {"name": getattr(raw, "name", None),
                     "arguments": getattr(raw, "arguments", None),
                     "call_id": getattr(raw, "call_id", None)}
        elif item.type == "tool_call_output_item":
            seen |= {"output": item.output,
                     "call_id": raw.get("call_id") if isinstance(raw, dict) else None}
        out.append(seen)
    return out


def _weather_agent(model: Model) -> Agent[Any]:
    return Agent(name="weather", instructions="Answer with the weather tool.", model=model,
                 tools=[get_weather])


async def _tool(model: Model, question: str) -> dict[str, Any]:
    tool_calls.clear()
    result = await Runner.run(_weather_agent(model), question)
    history[id(model)] = result.to_input_list()
    usage = result.context_wrapper.usage
    return {"final_output": result.final_output, "tool_calls": list(tool_calls),
            "items": _items(result),
            "usage": {"requests": usage.requests, "input_tokens": usage.input_tokens,
                      "output_tokens": usage.output_tokens}}


async def _followup(model: Model, question: str) -> dict[str, Any]:
    """The next turn of the tool run's conversation, sent back as the SDK keeps it
    (``to_input_list()``: its tool call, the tool's output, the model's answer)."""
    tool_calls.clear()
    turn = [*history[id(model)], {"role": "user", "content": question}]
    result = await Runner.run(_weather_agent(model), turn)
    return {"final_output": result.final_output, "tool_calls": list(tool_calls)}


async def _structured(model: Model, question: str) -> dict[str, Any]:
    agent = Agent(name="geographer", instructions="Say where the place is.",
                  model=model, output_type=City)
    result = await Runner.run(agent, question)
    output = result.final_output
    return {"final_output": output.model_dump() if isinstance(output, City) else repr(output),
            "output_type": type(output).__name__}


async def _streamed(model: Model, question: str) -> dict[str, Any]:
    tool_calls.clear()
    result = Runner.run_streamed(_weather_agent(model), question)
    deltas: list[str] = []
    events: list[str] = []
    async for event in result.stream_events():
        if event.type == "raw_response_event":
            if event.data.type == "response.output_text.delta":
                deltas.append(event.data.delta)
        elif event.type == "run_item_stream_event":
            events.append(event.name)
    return {"final_output": result.final_output, "deltas": deltas, "item_events": events,
            "tool_calls": list(tool_calls), "complete": result.is_complete}


RUNS = {"tool": _tool, "followup": _followup, "structured": _structured, "streamed": _streamed}
QUESTIONS = {"tool": "What is the weather in Porto?", "followup": "Shall I take a hat?",
             "structured": "Where is the Ribeira?", "streamed": "And the weather in Porto now?"}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    client = AsyncOpenAI(base_url=args.base_url, api_key=args.api_key, max_retries=0,
                         timeout=60)
    models: dict[str, Model] = {
        "chat": OpenAIChatCompletionsModel(model=args.model, openai_client=client),
        "responses": OpenAIResponsesModel(model=args.model, openai_client=client),
    }
    out: dict[str, Any] = {}
    try:
        for kind in args.models.split(","):
            for name, run in RUNS.items():
                question = f"{QUESTIONS[name]} {args.marker} {kind}.{name}"
                try:
                    out[f"{kind}.{name}"] = await run(models[kind], question)
                except Exception as exc:  # reported to the test, which shows it
                    out[f"{kind}.{name}"] = {"error": f"{type(exc).__name__}: {exc}"}
                    return out  # the fake model's planned replies are now out of step
    finally:
        await client.close()
    return out


if __name__ == "__main__":
    sys.addaudithook(_loopback_only)  # before anything could connect; it cannot be removed
    set_tracing_disabled(True)  # (and OPENAI_AGENTS_DISABLE_TRACING=1 in the environment)
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--marker", required=True)
    parser.add_argument("--models", default="chat,responses")
    found = asyncio.run(main(parser.parse_args()))
    print(json.dumps({"runs": found, "reached": reached}))
