"""kill -9 of `chatstream up` under load loses nothing and duplicates nothing: every
message that got its 202 is stored once and answered once after the restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.crash import crash_run


# Starting `chatstream up` on Kafka twice (one Faust app per stage joining its group) takes
# minutes on a busy two-core machine.
@pytest.mark.timeout(900)
@pytest.mark.parametrize("kind", ["embedded", "kafka"])
@pytest.mark.parametrize("seed", [3])
async def test_every_accepted_message_is_stored_and_answered_once_after_kill_9(
        tmp_path: Path, kind: str, seed: int) -> None:
    out = await crash_run(kind, tmp_path, messages=80, clients=8, conversations=8,
                          seed=seed)
    assert out.accepted > 0
    assert out.lost == [], f"accepted, not stored: {out.summary()}"
    assert out.unanswered == [], f"stored, never answered: {out.summary()}"
    assert out.duplicated == [], f"stored or answered twice: {out.summary()}"
    assert out.stored == out.answered == out.accepted
