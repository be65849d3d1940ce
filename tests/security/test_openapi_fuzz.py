"""Every operation of the edge's OpenAPI, fuzzed by schemathesis (its own command line,
as an operator would run it) against a real `chatstream up`: examples, boundary values
("coverage"), random valid and invalid inputs, and linked call sequences. No answer may
be a 5xx.

Bounded: a few examples per operation, a fixed seed, no shrinking, a time budget; one
worker (hypothesis describing strategies from two threads tripped a CPython 3.11 `ast`
error here)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.security.support import Edge

BUDGET_S = 120


def test_no_operation_answers_5xx(dev_edge: Edge, tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "run", f"{dev_edge.url}/openapi.json",
         "--checks", "not_a_server_error", "--max-examples", "5", "--seed", "1",
         "--max-time", str(BUDGET_S), "--request-timeout", "30", "--no-shrink",
         "--generation-database", "none", "--workers", "1", "--no-color"],
        cwd=tmp_path, env={**os.environ, "SCHEMATHESIS_TELEMETRY": "false"},
        capture_output=True, text=True, timeout=BUDGET_S + 240)
    summary = run.stdout[-6000:]
    assert run.returncode == 0, summary + run.stderr[-2000:]
    assert " passed" in summary, summary
