"""The load generator of the side-by-side suite, a process of its own so its CPU is
measured apart from the servers' and from the harness.

Closed loop: N clients, each asking one streamed chat completion after another with no
think time, through the official ``openai`` SDK (the same client for the upstream called
directly, LiteLLM's proxy and chatstream's ``/v1/chat/completions``). Driven over stdin,
one JSON command a line, one JSON answer a line on stdout, so the harness can start its
meter after the warm-up and stop it when the answer arrives:

    {"op": "warm", "streams": 16}                 -> {"ok": true}
    {"op": "run", "streams": 16, "requests": 6}   -> {"ttft_ms": [...], "total_ms": [...],
                                                      "frames": [...], "errors": 0, ...}
    {"op": "open", "rate": 10, "count": 60}       -> the same, open loop: questions arrive
                                                     at random (Poisson) at ``rate`` per
                                                     second whether answers are done or not

    python -m bench.loadgen --base-url URL --model NAME [--api-key KEY]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from dataclasses import asdict, dataclass, field

import openai

__all__ = ("Run",)


@dataclass
class Run:
    ttft_ms: list[float] = field(default_factory=list)
    total_ms: list[float] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)
    """Content chunks the client received per answer: the same chunking on every server
    is checked here, not assumed."""
    errors: int = 0
    error_kinds: list[str] = field(default_factory=list)
    reconnects: int = 0
    """Requests sent again after a connection failed before any answer came (a pooled
    keep-alive connection the server had just closed): counted, not hidden."""
    seconds: float = 0.0


class Client:
    def __init__(self, base_url: str, model: str, api_key: str) -> None:
        self.model = model
        self.client = openai.AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=0,
                                         timeout=120)

    async def one(self, run: Run, n: int, again: bool = True) -> None:
        start = time.perf_counter()
        first = 0.0
        frames = 0
        try:
            stream = await self.client.chat.completions.create(
                model=self.model, stream=True,
                messages=[{"role": "user", "content": f"question {n} about the plan"}])
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    frames += 1
                    if not first:
                        first = time.perf_counter() - start
        except openai.APIConnectionError as exc:
            if again and not frames and not isinstance(exc, openai.APITimeoutError):
                run.reconnects += 1
                await self.one(run, n, again=False)
                return
            run.errors += 1
            if len(run.error_kinds) < 5:
                run.error_kinds.append(f"{type(exc).__name__}: {str(exc)[:120]}")
            return
        except openai.OpenAIError as exc:
            run.errors += 1
            if len(run.error_kinds) < 5:
                run.error_kinds.append(f"{type(exc).__name__}: {str(exc)[:120]}")
            return
        run.ttft_ms.append(first * 1000)
        run.total_ms.append((time.perf_counter() - start) * 1000)
        run.frames.append(frames)

    async def run(self, streams: int, requests: int) -> Run:
        result = Run()

        async def loop(i: int) -> None:
            for r in range(requests):
                await self.one(result, i * 1000 + r)

        start = time.perf_counter()
        await asyncio.gather(*(loop(i) for i in range(streams)))
        result.seconds = time.perf_counter() - start
        return result


    async def open_loop(self, rate: float, count: int) -> Run:
        result = Run()
        rng = random.Random(16)  # the same arrival times in every run
        tasks = []
        start = time.perf_counter()
        due = 0.0
        for n in range(count):
            due += rng.expovariate(rate)
            await asyncio.sleep(max(0.0, start + due - time.perf_counter()))
            tasks.append(asyncio.create_task(self.one(result, n)))
        await asyncio.gather(*tasks)
        result.seconds = time.perf_counter() - start
        return result


async def serve(client: Client) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print(json.dumps({"ready": True}), flush=True)
    while line := await reader.readline():
        cmd = json.loads(line)
        if cmd["op"] == "warm":
            warm = await client.run(cmd["streams"], 1)
            print(json.dumps({"ok": not warm.errors, "errors": warm.error_kinds}), flush=True)
        elif cmd["op"] == "run":
            print(json.dumps(asdict(await client.run(cmd["streams"], cmd["requests"]))),
                  flush=True)
        elif cmd["op"] == "open":
            print(json.dumps(asdict(await client.open_loop(cmd["rate"], cmd["count"]))),
                  flush=True)
        else:
            break
    await client.client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--api-key", default="bench")
    args = parser.parse_args()
    # The default asyncio loop on purpose: the load generator stays the same from one run
    # to the next, whatever loop the servers adopt.
    asyncio.run(serve(Client(args.base_url, args.model, args.api_key)))


if __name__ == "__main__":
    main()
