"""The retrieval evaluation runs (quick mode: seconds) and the offline embedders keep the
quality docs/benchmarks.md reports; the labelled set stays consistent with its documents."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "bench" / "data"


def test_labelled_set_is_large_enough_and_every_answer_is_in_its_document() -> None:
    questions = [json.loads(line) for line in
                 (DATA / "questions.jsonl").read_text().splitlines() if line.strip()]
    assert len(questions) >= 50
    assert len({q["id"] for q in questions}) == len(questions)
    assert {q["kind"] for q in questions} == {"lexical", "paraphrase"}
    for q in questions:
        text = " ".join((DATA / "docs" / q["doc"]).read_text().split()).lower()
        assert " ".join(q["answer"].split()).lower() in text, q


@pytest.mark.timeout(900)  # embeds 55 passages with the model: seconds, unless CPU is scarce
def test_quick_evaluation_reports_recall_and_mrr(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "retrieval_eval.py"),
                           "--quick", "--json", str(out)],
                          capture_output=True, text=True, timeout=880, check=False)
    assert done.returncode == 0, done.stderr
    assert "| recall@5 | MRR |" in done.stdout
    results = {r["embedder"]: r for r in json.loads(out.read_text())}
    assert set(results) == {"hashing-v1-1024", "minilm-l6-v2-int8-384"}
    for r in results.values():
        assert r["index"] == "embedded" and r["questions"] == 22 and r["alpha"] == 0.75
        assert r["recall_lexical"] == 1.0
        assert r["embed_cpu_ms_passage"] > 0 and r["embed_cpu_ms_question"] > 0
    # Deterministic: the figures move only when retrieval changes.
    hashing, minilm = results["hashing-v1-1024"], results["minilm-l6-v2-int8-384"]
    assert hashing["recall_at_5"] >= 0.75 and hashing["mrr"] >= 0.65
    # The semantic embedder finds what the lexical one misses, asked in other words.
    assert minilm["recall_paraphrase"] >= 0.9
    assert minilm["recall_paraphrase"] > hashing["recall_paraphrase"]
