"""The direct baseline: a minimal FastAPI SSE endpoint that calls the model in-process
with the official openai SDK and relays its tokens: no log, no stages, no store.

    python -m bench.baseline_app --port 8200 --model-url http://127.0.0.1:8090/v1
"""

from __future__ import annotations

import argparse
import json
from collections.abc import AsyncIterator

import openai
import uvicorn
from fastapi import FastAPI
from sse_starlette import EventSourceResponse, ServerSentEvent


def create_app(model_url: str) -> FastAPI:
    app = FastAPI()
    client = openai.AsyncOpenAI(base_url=model_url, api_key="bench", max_retries=0)

    @app.post("/v1/conversations/{cid}/messages")
    async def message(cid: str, body: dict[str, str]) -> EventSourceResponse:
        async def tokens() -> AsyncIterator[ServerSentEvent]:
            stream = await client.chat.completions.create(
                model="fake-model", stream=True,
                messages=[{"role": "user", "content": body.get("text", "")}])
            seq = 0
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    seq += 1
                    yield ServerSentEvent(id=str(seq), event="token", data=json.dumps(
                        {"text": chunk.choices[0].delta.content, "seq": seq}))
            yield ServerSentEvent(event="done", data="{}")
        return EventSourceResponse(tokens())

    @app.post("/v1/conversations")
    async def conversation() -> dict[str, str]:
        return {"id": "baseline"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8200)
    parser.add_argument("--model-url", required=True)
    args = parser.parse_args()
    print(f"baseline listening on http://127.0.0.1:{args.port}/", flush=True)
    uvicorn.run(create_app(args.model_url), host="127.0.0.1", port=args.port,
                log_level="warning")


if __name__ == "__main__":
    main()
