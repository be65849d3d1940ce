"""The stages the composition root builds are the ones the registry names, reading the
topics it lists, so a deployment written from the registry runs what the code runs."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from chatstream.compose import deployment
from chatstream.workers import build_stages
from kernel.settings import Settings
from kernel.telemetry.metrics import STAGE_EVENTS
from schemas.stages import (
    ROLES,
    STAGE_NAMES,
    STAGES,
    analytics_name,
    group_name,
    role_name,
    role_stages,
    stage_info,
    stage_names,
    topic_name,
)
from schemas.topics import REQUESTS
from stores.conversations.sqlite import SQLiteConversationStore


def test_built_stages_read_the_registered_topics(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    store = SQLiteConversationStore.from_url("sqlite:///:memory:")
    # ingestion and memory need the document parts; checked through the registry below.
    names = [n for n in STAGE_NAMES if n not in ("ingestion", "memory")]
    for spec in build_stages(names, settings, store):
        info = stage_info(spec.name)
        assert spec.inputs == info.inputs, spec.name
        assert {b.topic for b in spec.broadcasts} == set(info.broadcasts), spec.name


def test_names_are_built_in_one_place() -> None:
    assert topic_name(REQUESTS, "t1-") == "t1-chat.requests.v1"
    assert topic_name("chat.dlq.v1") == "chat.dlq.v1"
    assert group_name("inference", "t1-") == "t1-chatstream-inference"
    assert STAGES[0].group("p-") == "p-chatstream-retrieval"
    assert stage_info(analytics_name("eu")).name == "analytics"
    with pytest.raises(KeyError):
        stage_info("nope")


def test_a_role_is_named_by_the_registry_whatever_order_its_stages_come_in() -> None:
    # A stage alone keeps the consumer group it always had.
    assert role_name(["inference"]) == "inference"
    assert group_name(role_name(["retrieval"]), "p-") == STAGES[0].group("p-")
    assert role_name(["batch-results", "analytics", "persistence", "batches", "scoring"]) \
        == "pipeline"
    assert role_name(reversed(STAGE_NAMES)) == "all"
    # Any other set: its stages in registry order, joined by a character Kafka topic
    # names allow (Faust names internal topics after the group).
    assert role_name(["persistence", "retrieval"]) == "retrieval.persistence"
    for role in ROLES:
        assert role_stages(role.name) == role.stages
        assert role_name(role.stages) == role.name
    assert role_stages("retrieval.persistence") == ("retrieval", "persistence")
    with pytest.raises(KeyError):
        role_stages("retrieval.nope")


def test_paths_partition_the_stages() -> None:
    assert stage_names("chat") == ("retrieval", "inference", "scoring", "persistence",
                                   "memory")
    assert set(stage_names("chat", "documents", "analytics", "batches")) == set(STAGE_NAMES)
    assert len(set(STAGE_NAMES)) == len(STAGE_NAMES)


async def test_what_the_stages_emit_is_what_the_registry_says(tmp_path: Path) -> None:
    """One answer through every chat stage in-process: each (stage, topic) a stage
    published to is among the registered outputs of that stage."""
    before = _emitted()
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("CHATSTREAM_")}
    try:
        # The deterministic model: the small language model (the default once installed)
        # takes minutes on a loaded machine, and what is checked is the topics.
        settings = Settings(data_dir=tmp_path, log_durable=False, lag_interval_s=0,
                            local_model_delay_ms=0, default_model="extractive")
        async with deployment(settings, edge=True, stages=stage_names("chat")) as running:
            assert running.services is not None
            transport = httpx.ASGITransport(app=create_app(running.services))
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1",
                                         timeout=60) as c:
                cid = (await c.post("/v1/conversations", json={})).json()["id"]
                posted = await c.post(f"/v1/conversations/{cid}/messages",
                                      json={"text": "My favourite colour is teal."})
                assert posted.status_code == 202
                for _ in range(600):
                    messages = (await c.get(f"/v1/conversations/{cid}/messages")).json()
                    if any(m.get("scores") for m in messages["data"]):
                        break
                    await asyncio.sleep(0.1)
                else:
                    raise AssertionError("the answer was not scored and stored in time")
    finally:
        os.environ.update(saved)
    # The counter is process-wide: other tests' stages (a test-only one too) count in it,
    # so only what this answer added is compared.
    after = _emitted()
    emitted = {key for key, value in after.items() if value > before.get(key, 0.0)}
    assert {stage for stage, _ in emitted} >= {"retrieval", "inference", "scoring"}
    for stage, topic in emitted:
        assert topic in {t.name for t in stage_info(stage).outputs}, (stage, topic)


def _emitted() -> dict[tuple[str, str], float]:
    return {(s.labels["stage"], s.labels["topic"]): s.value
            for metric in STAGE_EVENTS.collect() for s in metric.samples
            if s.name.endswith("_total") and s.labels["outcome"] == "out"}
