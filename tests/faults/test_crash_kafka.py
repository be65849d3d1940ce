"""kill -9 of `chatstream up --broker kafka://… --store cassandra://…` while messages
are being accepted: after the restart every accepted message is stored once with one
answer. Before answers were keyed by their request (#22, #17.13) the redelivered
inference stored a second answer row beside the first (26 extra rows after 40 accepted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.crash import crash_run


@pytest.mark.cassandra
@pytest.mark.timeout(900)  # two starts of `up` on Kafka and the settling in between
@pytest.mark.parametrize("seed", [5])
async def test_kafka_kill_9_leaves_one_answer_row_per_accepted_message(
        tmp_path: Path, seed: int) -> None:
    out = await crash_run("kafka", tmp_path, messages=50, clients=8, conversations=5,
                          seed=seed)
    assert out.accepted > 0
    assert out.lost == [], f"accepted, not stored: {out.summary()}"
    assert out.unanswered == [], f"stored, never answered: {out.summary()}"
    assert out.duplicated == [], f"stored or answered twice: {out.summary()}"
    assert out.stored == out.answered == out.accepted
