"""make test's and make check's lanes (tests/support/lanes.py): every lane runs, each
one's output is shown whole, and one failing lane fails the run."""

from __future__ import annotations

import pytest

from tests.support import lanes


def test_every_lane_runs_and_one_failure_fails_the_run(
        capfd: pytest.CaptureFixture[str]) -> None:
    code = lanes.main(["ok=echo first && echo second", "bad=echo broken; exit 3",
                       "slow=sleep 1; echo late"])
    out = capfd.readouterr().out
    assert code == 1
    assert "bad exit 3" in out and "FAILED: bad" in out
    for lane in ("===== ok: echo first && echo second\n\nfirst\nsecond\n",
                 "===== bad: echo broken; exit 3\n\nbroken\n",
                 "===== slow: sleep 1; echo late\n\nlate\n"):
        assert lane in out


def test_lanes_that_all_pass_pass() -> None:
    assert lanes.main(["a=true", "b=echo fine"]) == 0
