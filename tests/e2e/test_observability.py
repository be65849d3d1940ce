"""Observability of the Kafka deployment shape (the edge and each stage in its own
process): one trace per message across every process, the metrics of every process,
consumer lag, and ``chatstream status``."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from harness.process import ChatstreamProcess
from schemas.stages import STAGE_NAMES as ALL_STAGES
from schemas.stages import role_stages
from tests.e2e.chat import ask, new_conversation, wait_for_messages
from tests.support.stacks import STAGES, Stack
from tests.support.wait import until


def _spans(stack: Stack) -> list[dict[str, Any]]:
    directory = Path(stack.env["CHATSTREAM_TRACE_EXPORTER"].removeprefix("jsonl:"))
    out = []
    for path in directory.glob("*.jsonl"):
        out += [json.loads(line) for line in path.read_text().splitlines() if line]
    return out


async def _trace_of(stack: Stack, request_id: str, timeout: float = 30.0) -> list[dict[str, Any]]:
    """The spans of the trace of ``request_id``, once every stage's are there."""
    deadline = time.monotonic() + timeout
    found: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        spans = _spans(stack)
        edge = [s for s in spans if s["attributes"].get("chatstream.request") == request_id]
        if edge:
            found = [s for s in spans if s["trace_id"] == edge[0]["trace_id"]]
            names = [s["name"] for s in found]
            if all(f"{stage} process" in names for stage in STAGES if stage != "ingestion") \
                    and names.count("persistence process") >= 3:
                return found
        await asyncio.sleep(0.3)
    raise AssertionError(f"incomplete trace: {[s['name'] for s in found]}\n{stack.logs()}")


async def test_one_trace_links_the_edge_and_every_stage_across_processes(
        split_stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=split_stack.url, timeout=30) as client:
        cid = await new_conversation(client)
        answer = await ask(client, cid, "Traces should follow this message everywhere.")
        assert answer.last.event == "done"
    spans = await _trace_of(split_stack, answer.request_id)
    by_name: dict[str, list[dict[str, Any]]] = {}
    for s in spans:
        by_name.setdefault(s["name"], []).append(s)
    by_id = {s["span_id"]: s for s in spans}

    def ancestors(span: dict[str, Any]) -> list[str]:
        chain = []
        while span["parent_id"] is not None:
            chain.append(span["parent_id"])
            span = by_id[span["parent_id"]]  # a missing link fails here
        return chain

    edge = by_name["POST /v1/conversations/{cid}/messages"][0]
    assert edge["kind"] == "SERVER"
    assert edge["parent_id"] is None
    retrieval = by_name["retrieval process"][0]
    inference = by_name["inference process"][0]
    scoring = by_name["scoring process"][0]
    persistence = by_name["persistence process"]
    # Parent links survive the hops through Kafka, process to process: each stage's span
    # is the child of the span that published its input (at the edge, FastAPI's own
    # endpoint span inside the request's span).
    assert by_id[retrieval["parent_id"]]["service"] == "chatstream-edge"
    assert ancestors(retrieval)[-1] == edge["span_id"]
    assert inference["parent_id"] == retrieval["span_id"]
    assert scoring["parent_id"] == inference["span_id"]
    assert {p["parent_id"] for p in persistence} == {
        retrieval["parent_id"], inference["span_id"], scoring["span_id"]}
    assert all(s["kind"] == "CONSUMER" for s in (retrieval, inference, scoring, *persistence))
    # Four processes: the edge, retrieval, inference, and scoring with persistence (one
    # role of the split stack: one app, one consumer group).
    assert len({s["pid"] for s in (edge, retrieval, inference, scoring)}) == 4
    assert {p["pid"] for p in persistence} == {scoring["pid"]}
    # In order along the pipeline.
    assert edge["start_ns"] < retrieval["start_ns"] < inference["start_ns"] \
        < scoring["start_ns"]
    for s in (retrieval, inference, scoring, *persistence):
        assert s["attributes"]["chatstream.request"] == answer.request_id
        assert s["attributes"]["chatstream.conversation"] == cid
        assert s["attributes"]["chatstream.tenant"]
    assert inference["attributes"]["chatstream.provider"] == "extractive"
    assert inference["attributes"]["chatstream.model"] == "extractive"
    assert inference["attributes"]["chatstream.completion_tokens"] > 0
    assert inference["attributes"]["gen_ai.operation.name"] == "chat"
    assert inference["attributes"]["gen_ai.system"] == "extractive"
    assert inference["attributes"]["gen_ai.request.model"] == "extractive"
    assert inference["attributes"]["gen_ai.usage.output_tokens"] > 0
    assert edge["attributes"]["http.response.status_code"] == 202


def _samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def _value(samples: dict[str, list[tuple[dict[str, str], float]]], name: str,
           **labels: str) -> float:
    return sum(v for lb, v in samples.get(name, [])
               if all(lb.get(k) == want for k, want in labels.items()))


def _worker(stack: Stack, stage: str) -> ChatstreamProcess:
    """The worker running ``stage`` (alone or in a role of several)."""
    return next(p for p in stack.processes
                if p.args[0] == "worker" and stage in role_stages(p.args[1]))


async def test_every_process_serves_its_metrics_after_an_answer(split_stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=split_stack.url, timeout=30) as client:
        cid = await new_conversation(client)
        answer = await ask(client, cid, "Count this answer in the metrics.")
        assert answer.last.event == "done"
        await wait_for_messages(client, cid, 2, scored=True)

        async def lag_of_every_stage() -> bool:
            # Offsets are committed each second, and lag measured each second, after that.
            found = _samples((await client.get("/metrics")).text)
            stages = {lb["stage"] for lb, _ in found.get("chatstream_consumer_lag", [])}
            return stages >= {"retrieval", "inference", "scoring", "persistence"}
        await until(lag_of_every_stage, 30, every=0.5)
        edge = _samples((await client.get("/metrics")).text)
        inference_url = _worker(split_stack, "inference").url
        assert inference_url
        worker = _samples((await client.get(f"{inference_url}/metrics")).text)
        health = await client.get(f"{inference_url}/healthz")
        ready = await client.get(f"{inference_url}/readyz")
    route = "/v1/conversations/{cid}/messages"
    assert _value(edge, "chatstream_http_requests_total", route=route, method="POST",
                  status="202") >= 1
    assert _value(edge, "chatstream_http_request_seconds_count", route=route) >= 1
    assert "chatstream_sse_streams_open" in edge
    lags = edge["chatstream_consumer_lag"]
    assert {lb["stage"] for lb, _ in lags} >= {"retrieval", "inference", "scoring",
                                               "persistence"}
    assert {lb["topic"] for lb, _ in lags if lb["stage"] == "inference"} == {
        split_stack.env["CHATSTREAM_TOPIC_PREFIX"] + "chat.contexts.v1"}
    assert all(lb["partition"].isdigit() for lb, _ in lags)
    assert _value(worker, "chatstream_stage_events_total", stage="inference",
                  topic="chat.contexts.v1", outcome="in") >= 1
    assert _value(worker, "chatstream_stage_events_total", stage="inference",
                  topic="chat.tokens.v1", outcome="out") >= 2
    assert _value(worker, "chatstream_stage_handle_seconds_count", stage="inference") >= 1
    assert _value(worker, "chatstream_ttft_seconds_count", model="extractive",
                  provider="extractive") >= 1
    assert _value(worker, "chatstream_answer_seconds_count", model="extractive",
                  provider="extractive") >= 1
    assert _value(worker, "chatstream_tokens_out_total", model="extractive",
                  provider="extractive") > 0
    # The same answer under OpenTelemetry's GenAI names, for standard GenAI dashboards.
    gen_ai = {"gen_ai_operation_name": "chat", "gen_ai_system": "extractive",
              "gen_ai_request_model": "extractive"}
    assert _value(worker, "gen_ai_client_token_usage_count", gen_ai_token_type="output",
                  **gen_ai) >= 1
    assert _value(worker, "gen_ai_client_token_usage_sum", gen_ai_token_type="output",
                  **gen_ai) > 0
    assert _value(worker, "gen_ai_client_operation_duration_seconds_count", **gen_ai) >= 1
    assert ("chatstream_breaker_state" in worker
            and _value(worker, "chatstream_breaker_state", provider="extractive") == 0)
    assert health.json() == {"status": "ok"}
    checks = ready.json()["checks"]
    assert ready.status_code == 200, checks
    assert checks["log"]["ok"] and checks["store"]["ok"] and checks["providers"]["ok"]
    # The details (hosts, breaker states) are the operator's, with METRICS_TOKEN: an
    # anonymous probe gets each part's verdict only. The breaker is on /metrics above.
    assert checks["providers"] == {"ok": True}


async def _lag(client: httpx.AsyncClient, stage: str) -> float:
    return _value(_samples((await client.get("/metrics")).text), "chatstream_consumer_lag",
                  stage=stage)




def _status(stack: Stack) -> str:
    run = subprocess.run([sys.executable, "-m", "chatstream.cli", "status", "--interval",
                          "1", "--metrics", stack.url], env=stack.env_for_cli(),
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return run.stdout


async def test_lag_rises_while_a_stage_is_stopped_and_falls_after(split_stack: Stack,
                                                                   tmp_path: Path) -> None:
    scoring = _worker(split_stack, "scoring")
    async with httpx.AsyncClient(base_url=split_stack.url, timeout=30) as client:
        cid = await new_conversation(client)
        await ask(client, cid, "Score me before the scorer stops.")
        await wait_for_messages(client, cid, 2, scored=True)
        scoring.stop()
        try:
            for i in range(3):
                assert (await ask(client, cid, f"Unscored message {i}.")).last.event == "done"

            async def behind() -> bool:
                return await _lag(client, "scoring") >= 3
            await until(behind, 60, every=0.5)
            table = _status(split_stack)
            row = next(line.split() for line in table.splitlines()
                       if line.startswith("scoring"))
            assert int(row[1]) >= 3, table
        finally:
            restarted = ChatstreamProcess(scoring.args, split_stack.env,
                                          tmp_path / "scoring.log",
                                          ready="workers running").start(180)
            split_stack.processes[split_stack.processes.index(scoring)] = restarted

        async def caught_up() -> bool:
            return await _lag(client, "scoring") == 0
        await until(caught_up, 120, every=0.5)
        await wait_for_messages(client, cid, 8, scored=True)
    table = _status(split_stack)
    assert table.splitlines()[0].split()[:2] == ["stage", "lag"]
    lines = {line.split()[0]: line.split() for line in table.splitlines()[1:]}
    assert set(lines) == set(ALL_STAGES)
    assert lines["scoring"][1] == "0", table
