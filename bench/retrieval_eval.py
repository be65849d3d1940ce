"""Retrieval evaluation: recall@5 and MRR of each embedder and vector index, and what
embedding costs (CPU seconds of this process per passage and per question).

The labelled set is bench/data/questions.jsonl: questions about the documents in
bench/data/docs/, each labelled with its document and the exact words of its answer. A
retrieved passage is relevant when it comes from that document and contains the answer.
Questions are "lexical" (they share the answer's distinctive words) or "paraphrase" (they
ask in other words), so the figures show what a method does with each.

The documents go through the product's own path: text extraction, passages of the default
budget (200 tokens, 40 of overlap), the embedder, the index; every question is one hybrid
search of the tenant's documents, like the retrieval stage's.

    .venv/bin/python bench/retrieval_eval.py                  # every index, offline embedders
    .venv/bin/python bench/retrieval_eval.py --quick          # seconds: embedded, a third
    .venv/bin/python bench/retrieval_eval.py --openai-base-url http://127.0.0.1:11434/v1 \\
        --openai-model nomic-embed-text                       # and an OpenAI-compatible one

Prints a Markdown table; ``--plot`` writes a PNG, ``--json`` the raw figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agents.embedders.base import Embedder  # noqa: E402
from agents.embedders.hashing import HashingEmbedder  # noqa: E402
from agents.embedders.onnx import OnnxEmbedder, minilm_files  # noqa: E402
from agents.ingestion.extract import extract_text  # noqa: E402
from agents.ingestion.split import split_passages  # noqa: E402
from kernel.settings import Settings  # noqa: E402
from schemas.scopes import TENANT as LIBRARY  # noqa: E402
from stores.vectors.base import Hit, IndexedChunk, VectorIndex  # noqa: E402
from stores.vectors.embedded import EmbeddedVectorIndex  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
TENANT = "bench"
K = 5


@dataclass(frozen=True)
class Question:
    id: int
    question: str
    doc: str
    answer: str
    kind: str


@dataclass(frozen=True)
class Result:
    index: str
    embedder: str
    search: str
    alpha: float
    questions: int
    passages: int
    recall_at_5: float
    mrr: float
    recall_lexical: float
    recall_paraphrase: float
    query_ms: float
    embed_cpu_ms_passage: float
    embed_cpu_ms_question: float
    misses: list[int]


def _norm(text: str) -> str:
    return " ".join(text.split()).lower()


def load_questions(quick: bool) -> list[Question]:
    lines = (DATA / "questions.jsonl").read_text().splitlines()
    questions = [Question(**json.loads(line)) for line in lines if line.strip()]
    return questions[::3] if quick else questions


def load_passages(max_tokens: int, overlap: int) -> list[tuple[str, int, str]]:
    """(document, chunk number, text) of every committed document, as ingestion makes them."""
    out = []
    for path in sorted((DATA / "docs").glob("*.md")):
        text = extract_text(path.read_bytes(), "text/markdown")
        for n, passage in enumerate(split_passages(text, max_tokens=max_tokens,
                                                   overlap_tokens=overlap)):
            out.append((path.name, n, passage))
    return out


def rank_of(hits: Sequence[Hit], q: Question) -> int | None:
    for rank, hit in enumerate(hits, start=1):
        if hit.document_id == q.doc and _norm(q.answer) in _norm(hit.text):
            return rank
    return None


async def index_passages(index: VectorIndex, embedder: Embedder,
                         passages: list[tuple[str, int, str]]) -> float:
    """Embeds and indexes the passages, in batches as ingestion does; returns the CPU
    seconds of this process spent embedding (every thread: onnxruntime's included)."""
    cpu = 0.0
    for start in range(0, len(passages), 32):
        batch = passages[start:start + 32]
        began = time.process_time()
        vectors = await embedder.embed([text for _, _, text in batch])
        cpu += time.process_time() - began
        await index.upsert([
            IndexedChunk(tenant_id=TENANT, document_id=doc, chunk=n, title=doc, text=text,
                         vector=vector, scope=LIBRARY.key)
            for (doc, n, text), vector in zip(batch, vectors, strict=True)])
    return cpu


async def evaluate(index_name: str, index: VectorIndex, embedder: Embedder,
                   questions: list[Question], passages: list[tuple[str, int, str]],
                   alphas: Sequence[float]) -> list[Result]:
    passage_cpu = await index_passages(index, embedder, passages)
    # One question at a time, as the retrieval stage embeds them.
    began = time.process_time()
    vectors = [(await embedder.embed([q.question]))[0] for q in questions]
    question_cpu = time.process_time() - began
    results = []
    for alpha in alphas:
        ranks: dict[int, int | None] = {}
        started = time.perf_counter()
        for q, vector in zip(questions, vectors, strict=True):
            hits = await index.search(TENANT, q.question, vector, scope=LIBRARY.key,
                                      limit=K, alpha=alpha)
            ranks[q.id] = rank_of(hits, q)
        elapsed_ms = (time.perf_counter() - started) * 1000 / len(questions)

        def recall(kind: str | None, ranks: dict[int, int | None] = ranks) -> float:
            chosen = [q for q in questions if kind is None or q.kind == kind]
            found = [q for q in chosen if ranks[q.id] is not None]
            return round(len(found) / len(chosen), 3) if chosen else 0.0

        mrr = sum(1 / r for r in ranks.values() if r) / len(questions)
        search = {0.0: "BM25 only", 1.0: "vector only"}.get(alpha, f"hybrid a={alpha:g}")
        results.append(Result(
            index=index_name, embedder=embedder.space, search=search, alpha=alpha,
            questions=len(questions), passages=len(passages), recall_at_5=recall(None),
            mrr=round(mrr, 3), recall_lexical=recall("lexical"),
            recall_paraphrase=recall("paraphrase"), query_ms=round(elapsed_ms, 2),
            embed_cpu_ms_passage=round(passage_cpu * 1000 / len(passages), 2),
            embed_cpu_ms_question=round(question_cpu * 1000 / len(questions), 2),
            misses=sorted(i for i, r in ranks.items() if r is None)))
    return results


def embedders(args: argparse.Namespace) -> list[Embedder]:
    chosen: list[Embedder] = [HashingEmbedder(), OnnxEmbedder(minilm_files())]
    if args.openai_base_url or args.openai_api_key:
        from agents.embedders.openai import OpenAIEmbedder

        chosen.append(OpenAIEmbedder(args.openai_model, api_key=args.openai_api_key or "none",
                                     base_url=args.openai_base_url or None))
    return chosen


async def run(args: argparse.Namespace) -> list[Result]:
    questions = load_questions(args.quick)
    passages = load_passages(args.passage_tokens, args.overlap_tokens)
    alphas = [args.alpha] if args.quick else sorted({0.0, 0.25, 0.5, 0.75, 1.0, args.alpha})
    results: list[Result] = []
    for n, embedder in enumerate(embedders(args)):
        # BM25 alone does not depend on the embedder: measured with the first one only.
        wanted = [a for a in alphas if a > 0 or n == 0]
        with tempfile.TemporaryDirectory(prefix="retrieval-eval-") as tmp:
            embedded = EmbeddedVectorIndex(Path(tmp) / "vectors.db", embedder.space)
            await embedded.start()
            try:
                results += await evaluate("embedded", embedded, embedder, questions, passages,
                                          wanted)
            finally:
                await embedded.close()
        if args.weaviate and not args.quick:
            results += await run_weaviate(args, embedder, questions, passages, wanted)
        await embedder.close()
    return results


async def run_weaviate(args: argparse.Namespace, embedder: Embedder,
                       questions: list[Question], passages: list[tuple[str, int, str]],
                       alphas: Sequence[float]) -> list[Result]:
    from stores.vectors.weaviate import WeaviateVectorIndex

    base = f"Bench{uuid.uuid4().hex[:10]}"
    index = WeaviateVectorIndex.from_url(f"{args.weaviate.rstrip('/')}/{base}",
                                         grpc_port=args.weaviate_grpc_port, space=embedder.space)
    await index.start()
    try:
        return await evaluate("weaviate", index, embedder, questions, passages, alphas)
    finally:
        client: Any = index._client  # the collection is this run's alone: drop it
        if client is not None:
            await client.collections.delete(index.collection)
        await index.close()


def table(results: list[Result]) -> str:
    rows = ["| index | embedder | search | recall@5 | MRR | recall@5 lexical | "
            "recall@5 paraphrase | search ms/query | embed CPU ms/passage | "
            "embed CPU ms/question |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        rows.append(f"| {r.index} | {r.embedder} | {r.search} | {r.recall_at_5:.3f} | "
                    f"{r.mrr:.3f} | {r.recall_lexical:.3f} | {r.recall_paraphrase:.3f} | "
                    f"{r.query_ms:.1f} | {r.embed_cpu_ms_passage:.2f} | "
                    f"{r.embed_cpu_ms_question:.2f} |")
    return "\n".join(rows)


def plot(results: list[Result], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r.index}\n{r.search}" + ("" if r.alpha == 0 else f"\n{r.embedder}")
              for r in results]
    series = [("recall@5", [r.recall_at_5 for r in results]),
              ("MRR", [r.mrr for r in results]),
              ("recall@5 paraphrase", [r.recall_paraphrase for r in results])]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(results)), 4.2))
    width = 0.8 / len(series)
    for i, (name, values) in enumerate(series):
        xs = [x + (i - 1) * width for x in range(len(results))]
        bars = ax.bar(xs, values, width, label=name)
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks(range(len(results)), labels, fontsize=7)
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("fraction of questions / MRR")
    n = results[0].questions if results else 0
    ax.set_title(f"Retrieval over {n} labelled questions (top {K} passages)")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="a third of the questions, embedded index, hybrid only")
    parser.add_argument("--weaviate", default="weaviate://127.0.0.1:8080",
                        help="Weaviate to measure too; '' to skip (default %(default)s)")
    parser.add_argument("--weaviate-grpc-port", type=int,
                        default=int(os.environ.get("CHATSTREAM_WEAVIATE_GRPC_PORT") or 50051))
    parser.add_argument("--openai-base-url", default="",
                        help="also measure an OpenAI-compatible embeddings endpoint")
    parser.add_argument("--openai-model", default="text-embedding-3-small")
    parser.add_argument("--openai-api-key",
                        default=os.environ.get("CHATSTREAM_EMBEDDINGS_API_KEY", ""))
    parser.add_argument("--alpha", type=float,
                        default=Settings.model_fields["rag_alpha"].default,
                        help="the hybrid weight of --quick, also measured in full runs "
                        "(default: the product's, %(default)s)")
    parser.add_argument("--passage-tokens", type=int, default=200)
    parser.add_argument("--overlap-tokens", type=int, default=40)
    parser.add_argument("--plot", type=Path, help="write a PNG chart here")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    results = asyncio.run(run(args))
    print(table(results))
    for r in results:
        if r.misses:
            print(f"{r.index} / {r.embedder} / {r.search}: not in the top {K}: "
                  f"questions {', '.join(map(str, r.misses))}")
    if args.plot:
        plot(results, args.plot)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
