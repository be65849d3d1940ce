"""A history longer than the model's window is fitted in the open: the client is told how
many of its turns were summarised or left out, and the summary's usage is in ``usage``."""

from __future__ import annotations

from typing import Any

import openai

FILLER = ("The quarterly report covers logistics, staffing and the new warehouse layout in "
          "some detail, with tables. ")


def _conversation(turns: int) -> Any:
    out: list[dict[str, str]] = [{"role": "system", "content": "Answer briefly."},
                                 {"role": "user", "content": "My favourite city is Lisbon."}]
    for i in range(1, turns):
        out.append({"role": "assistant" if i % 2 else "user",
                    "content": f"{FILLER * 2}(turn {i})"})
    return [*out, {"role": "user", "content": "Which city is my favourite?"}]


async def test_a_summarised_history_is_told_in_headers_and_usage(
        oai: openai.AsyncOpenAI) -> None:
    short = await oai.chat.completions.with_raw_response.create(
        model="local-tiny", messages=_conversation(1))
    assert "x-chatstream-history-summarized" not in short.headers
    raw = await oai.chat.completions.with_raw_response.create(
        model="local-tiny", messages=_conversation(12))
    summarized = int(raw.headers["x-chatstream-history-summarized"])
    dropped = int(raw.headers.get("x-chatstream-history-dropped", "0"))
    assert summarized > 0 and summarized + dropped <= 11
    usage = raw.parse().usage
    assert usage is not None and usage.prompt_tokens > 0

    stream = await oai.chat.completions.with_raw_response.create(
        model="local-tiny", messages=_conversation(12), stream=True)
    assert stream.headers["x-chatstream-history-summarized"] == str(summarized)
    async for _ in stream.parse():
        pass
