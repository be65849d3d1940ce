"""The stages the composition root builds are the ones the registry names, reading the
topics it lists, so a deployment written from the registry runs what the code runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatstream.compose import build_stages
from kernel.settings import Settings
from schemas.stages import (
    STAGE_NAMES,
    STAGES,
    analytics_name,
    group_name,
    stage_info,
    stage_names,
    topic_name,
)
from schemas.topics import REQUESTS
from stores.conversations.sqlite import SQLiteConversationStore


def test_built_stages_read_the_registered_topics(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    store = SQLiteConversationStore.from_url("sqlite:///:memory:")
    # ingestion needs the document parts; its spec is checked through the registry below.
    names = [n for n in STAGE_NAMES if n != "ingestion"]
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


def test_paths_partition_the_stages() -> None:
    assert stage_names("chat") == ("retrieval", "inference", "scoring", "persistence")
    assert set(stage_names("chat", "documents", "analytics", "batches")) == set(STAGE_NAMES)
    assert len(set(STAGE_NAMES)) == len(STAGE_NAMES)
