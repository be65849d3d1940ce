"""What a client reads in each protocol for an answer's events: chatstream's own SSE,
OpenAI's chat.completions chunks and its Responses events, all rendered by one walk."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from api.openai_compat.completions import ChatChunks, Completion, collect
from api.openai_compat.responses import ResponseEvents
from api.relay.native import NativeSse, from_store
from api.relay.render import KEEPALIVE, Renderer, drain, frames
from api.relay.stream import RequestStream
from kernel.sse_reader import Event, EventReader
from schemas.events import (
    AnswerFailed,
    AnswerFinished,
    AnswerStarted,
    TokensGenerated,
    ToolCallGenerated,
    Usage,
)
from stores.conversations.base import StoredMessage

BASE = {"tenant_id": "t", "request_id": "r", "conversation_id": "c"}


def _stream(*events: Any) -> RequestStream:
    s = RequestStream("r", "t", "u", "c")
    for e in events:
        s.add(e)
    return s


def _started(attempt: str = "a1", model: str = "small") -> AnswerStarted:
    return AnswerStarted(**BASE, attempt=attempt, seq=0, model=model, provider="local")


def _token(text: str, seq: int, attempt: str = "a1") -> TokensGenerated:
    return TokensGenerated(**BASE, attempt=attempt, seq=seq, text=text)


def _done(reason: str = "stop", attempt: str = "a1") -> AnswerFinished:
    return AnswerFinished(**BASE, attempt=attempt, seq=99, message_id="m",
                          usage=Usage(prompt_tokens=7, completion_tokens=3),
                          finish_reason=reason)


def _call(index: int, seq: int, arguments: str, call_id: str | None = None,
          name: str | None = None) -> ToolCallGenerated:
    return ToolCallGenerated(**BASE, attempt="a1", seq=seq, index=index, call_id=call_id,
                             name=name, arguments=arguments)


async def _read(stream: RequestStream, renderer: Renderer, after: int = 0,
                keepalive_s: float = 15.0) -> list[Event]:
    reader = EventReader()
    body = b"".join([b async for b in frames(stream, renderer, after, keepalive_s)])
    return [e for line in body.decode().split("\n") if (e := reader.line(line)) is not None]


def _chunks(events: list[Event]) -> list[dict[str, Any]]:
    return [json.loads(e.data) for e in events if e.data != "[DONE]"]


# -- chatstream's own SSE -----------------------------------------------------------------


async def test_native_events_are_numbered_and_carry_what_the_readme_says() -> None:
    events = await _read(_stream(_started(), _token("Hel", 1), _token("lo", 2), _done()),
                         NativeSse())
    assert [(e.id, e.event) for e in events] == [
        ("1", "status"), ("2", "token"), ("3", "token"), ("4", "done")]
    assert events[0].json() == {"state": "generating", "model": "small",
                                "provider": "local"}
    assert events[1].json() == {"text": "Hel", "seq": 1}
    assert events[3].json() == {"message_id": "m", "usage": {
        "prompt_tokens": 7, "completion_tokens": 3}, "finish_reason": "stop"}


async def test_a_reader_before_the_first_event_hears_queued_then_keep_alives() -> None:
    stream = _stream()
    walk = frames(stream, NativeSse(), 0, keepalive_s=0.01)
    assert b"event: status\ndata: {\"state\":\"queued\"}" in await anext(walk)
    assert await anext(walk) == KEEPALIVE
    stream.add(_done())
    assert b"event: done" in await anext(walk)
    await walk.aclose()


async def test_an_answer_rebuilt_from_the_store_restarts_a_client_that_had_part_of_it(
        ) -> None:
    """A resume after the log let the answer go: the client had events 1..5 of the
    original; it gets a restart numbered 6, then the whole answer, then done."""
    stored = StoredMessage(
        tenant_id="t", conversation_id="c", id="m", request_id="r", role="assistant",
        text="The whole answer.", created_at=datetime.now(UTC), user_id="u", model="small",
        provider="local", prompt_tokens=7, completion_tokens=3, finish_reason="stop",
        tool_calls=({"id": "call_1", "name": "f", "arguments": "{}"},))
    events = await _read(from_store(stored, 5), NativeSse(), after=5)
    assert [(e.id, e.event) for e in events] == [
        ("6", "restart"), ("7", "status"), ("8", "token"), ("9", "tool_calls"),
        ("10", "done")]
    assert events[2].json()["text"] == "The whole answer."
    assert events[3].json() == {"index": 0, "id": "call_1", "name": "f", "arguments": "{}",
                                "seq": 2}
    fresh = await _read(from_store(stored, 0), NativeSse())
    assert [e.event for e in fresh] == ["status", "token", "tool_calls", "done"]


# -- OpenAI's chat.completions chunks ------------------------------------------------------


async def test_chat_chunks_carry_text_tool_calls_and_usage_then_done() -> None:
    stream = _stream(_started(), _token("Let me", 1), _call(0, 2, '{"a"', "call_1", "f"),
                     _call(0, 3, ": 1}"), _done("tool_calls"))
    events = await _read(stream, ChatChunks(Completion("chatcmpl-r", "asked", 1), False))
    assert events[-1].data == "[DONE]"
    chunks = _chunks(events)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert {c["model"] for c in chunks[1:]} == {"small"}  # the model that answered
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[1] == {"content": "Let me"}
    assert deltas[2] == {"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                         "function": {"arguments": '{"a"', "name": "f"}}]}
    assert deltas[3] == {"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["usage"] == {"prompt_tokens": 7, "completion_tokens": 3,
                                   "total_tokens": 10}


async def test_chat_usage_comes_in_a_chunk_of_its_own_when_asked() -> None:
    events = await _read(_stream(_started(), _token("x", 1), _done()),
                         ChatChunks(Completion("chatcmpl-r", "asked", 1), True))
    *_, finish, usage = _chunks(events)
    assert finish["usage"] is None and finish["choices"][0]["finish_reason"] == "stop"
    assert usage["choices"] == [] and usage["usage"]["total_tokens"] == 10


async def test_a_blocked_answer_finishes_with_content_filter() -> None:
    events = await _read(_stream(_started(), _token("I can't help with that.", 1),
                                 _done("blocked")),
                         ChatChunks(Completion("chatcmpl-r", "asked", 1), False))
    assert _chunks(events)[-1]["choices"][0]["finish_reason"] == "content_filter"


async def test_a_restart_after_text_ends_the_chat_stream_with_an_error() -> None:
    late = _stream(_started(), _token("part", 1), _started("a2", "other"), _token("ok", 1, "a2"),
                   _done(attempt="a2"))
    events = await _read(late, ChatChunks(Completion("chatcmpl-r", "asked", 1), False))
    assert json.loads(events[-1].data)["error"]["code"] == "restarted"
    assert "ok" not in "".join(e.data for e in events)
    early = _stream(_started(), _started("a2", "other"), _token("ok", 1, "a2"),
                    _done(attempt="a2"))
    chunks = _chunks(await _read(early, ChatChunks(Completion("r", "asked", 1), False)))
    assert [c["choices"][0]["delta"].get("content") for c in chunks][1] == "ok"
    assert chunks[-1]["model"] == "other"


async def test_a_failure_with_an_http_status_is_that_status_whole_and_its_type_streamed(
        ) -> None:
    failed = AnswerFailed.model_validate({**BASE, "attempt": "a1", "seq": 1,
                                          "code": "rate_limited", "message": "slow down"})

    def stream() -> RequestStream:
        s = RequestStream("r")
        s.add({**failed.model_dump(mode="json"), "status": 429,
               "error_type": "rate_limit_error"})
        return s

    whole = await collect(stream(), Completion("chatcmpl-r", "asked", 1))
    assert whole.status_code == 429
    assert json.loads(whole.body)["error"] == {"message": "slow down",
                                               "type": "rate_limit_error", "param": None,
                                               "code": "rate_limited"}
    streamed = await _read(stream(), ChatChunks(Completion("chatcmpl-r", "asked", 1), False))
    assert json.loads(streamed[-1].data)["error"]["type"] == "rate_limit_error"


async def test_a_whole_chat_completion_assembles_text_and_tool_calls() -> None:
    stream = _stream(_started(), _call(0, 1, '{"a"', "call_1", "f"), _call(0, 2, ": 1}"),
                     _call(1, 3, "{}", "call_2", "g"), _done("tool_calls"))
    body = json.loads((await collect(stream, Completion("chatcmpl-r", "asked", 1))).body)
    message = body["choices"][0]["message"]
    assert message["content"] is None
    assert [(c["id"], c["function"]["name"], c["function"]["arguments"])
            for c in message["tool_calls"]] == [("call_1", "f", '{"a": 1}'),
                                                ("call_2", "g", "{}")]
    assert body["model"] == "small" and body["usage"]["total_tokens"] == 10


# -- OpenAI's Responses events -------------------------------------------------------------


async def test_responses_events_open_fill_and_close_each_output_item() -> None:
    stream = _stream(_started(), _token("Hi", 1), _call(0, 2, "{}", "call_1", "f"),
                     _done("tool_calls"))
    renderer = ResponseEvents("resp_r", "asked", {"input": "x"}, created_at=1)
    events = await _read(stream, renderer)
    assert [e.event for e in events] == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.content_part.added",
        "response.output_text.delta",
        "response.output_item.added", "response.function_call_arguments.delta",
        "response.output_text.done", "response.content_part.done",
        "response.output_item.done",
        "response.function_call_arguments.done", "response.output_item.done",
        "response.completed"]
    assert [json.loads(e.data)["sequence_number"] for e in events] == list(range(1, 14))
    final = json.loads(events[-1].data)["response"]
    assert final["status"] == "completed" and final["model"] == "small"
    assert [(o["type"], o["status"]) for o in final["output"]] == [
        ("message", "completed"), ("function_call", "completed")]
    assert final["output"][0]["content"][0]["text"] == "Hi"
    assert final["output"][1]["arguments"] == "{}"
    whole = ResponseEvents("resp_r", "asked", {"input": "x"}, created_at=1, streamed=False)
    await drain(_stream(_started(), _token("Hi", 1), _call(0, 2, "{}", "call_1", "f"),
                        _done("tool_calls")), whole)
    assert whole.response() == final


async def test_a_blocked_response_is_incomplete_for_its_content_filter() -> None:
    stream = _stream(_started(), _token("I can't help with that.", 1), _done("blocked"))
    events = await _read(stream, ResponseEvents("resp_r", "asked", {}, created_at=1))
    assert events[-1].event == "response.incomplete"
    final = json.loads(events[-1].data)["response"]
    assert final["status"] == "incomplete"
    assert final["incomplete_details"] == {"reason": "content_filter"}


async def test_a_response_cut_at_max_output_tokens_is_incomplete_and_says_so() -> None:
    """As OpenAI answers it: ``response.incomplete``, ``max_output_tokens`` the reason,
    the message itself incomplete (it was ``completed`` with no reason, so a client
    could not tell a cut answer from a whole one)."""
    request = {"input": "x", "max_output_tokens": 3}
    stream = _stream(_started(), _token("I can't answ", 1), _done("length"))
    events = await _read(stream, ResponseEvents("resp_r", "asked", request, created_at=1))
    assert events[-1].event == "response.incomplete"
    final = json.loads(events[-1].data)["response"]
    assert final["status"] == "incomplete"
    assert final["incomplete_details"] == {"reason": "max_output_tokens"}
    assert final["output"][0]["status"] == "incomplete"
    assert final["output"][0]["content"][0]["text"] == "I can't answ"
    whole = ResponseEvents("resp_r", "asked", request, created_at=1, streamed=False)
    await drain(_stream(_started(), _token("I can't answ", 1), _done("length")), whole)
    assert whole.response() == final


async def test_a_failed_response_keeps_only_what_openai_defines() -> None:
    stream = _stream(_started(), _token("x", 1), AnswerFailed(
        **BASE, attempt="a1", seq=2, code="provider_unavailable", message="down"))
    events = await _read(stream, ResponseEvents("resp_r", "asked", {}, created_at=1))
    final = json.loads(events[-1].data)["response"]
    assert events[-1].event == "response.failed"
    assert final["error"] == {"code": "provider_unavailable", "message": "down"}
    assert set(final["output"][0]) == {"type", "id", "status", "role", "content"}
