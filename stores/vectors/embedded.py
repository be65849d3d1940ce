"""The embedded vector index: SQLite on disk, exact cosine search with numpy and BM25
from SQLite's FTS5, fused the way Weaviate fuses hybrid results (relative scores).

For ``chatstream up`` and tests on one machine: every search reads the scope's vectors
(cached in memory until the file changes) and compares them all, which is fine for
thousands of passages and slow for millions. Beyond one machine the answer is Weaviate.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from stores.sqlite_thread import SQLiteThread
from stores.vectors.base import DEFAULT_ALPHA, Hit, IndexedChunk
from stores.vectors.text import STOPWORDS, words

__all__ = ("EmbeddedVectorIndex", "fuse")

Matrix = npt.NDArray[np.float32]

# conversation_id holds the scope's key ('' for the tenant's library): named when a
# conversation was the only scope narrower than the tenant.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS chunks (
    space TEXT NOT NULL, tenant_id TEXT NOT NULL, document_id TEXT NOT NULL,
    chunk INTEGER NOT NULL, conversation_id TEXT NOT NULL, title TEXT NOT NULL,
    text TEXT NOT NULL, vector BLOB NOT NULL, page INTEGER,
    UNIQUE (space, tenant_id, document_id, chunk));
CREATE INDEX IF NOT EXISTS chunks_by_scope ON chunks (space, tenant_id, conversation_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    text, title, content='chunks', content_rowid='rowid', tokenize='porter unicode61');
CREATE TRIGGER IF NOT EXISTS chunks_ai AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts (rowid, text, title) VALUES (new.rowid, new.text, new.title);
END;
CREATE TRIGGER IF NOT EXISTS chunks_ad AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts (chunks_fts, rowid, text, title)
    VALUES ('delete', old.rowid, old.text, old.title);
END;
CREATE TRIGGER IF NOT EXISTS chunks_au AFTER UPDATE ON chunks BEGIN
    INSERT INTO chunks_fts (chunks_fts, rowid, text, title)
    VALUES ('delete', old.rowid, old.text, old.title);
    INSERT INTO chunks_fts (rowid, text, title) VALUES (new.rowid, new.text, new.title);
END;
"""


def fuse(vector: dict[int, float], keyword: dict[int, float], alpha: float) -> dict[int, float]:
    """Relative score fusion: each side's scores scaled to 0..1 by its own min and max,
    then ``alpha * vector + (1 - alpha) * keyword``; a side that missed a hit adds 0."""
    fused: dict[int, float] = {}
    for scores, weight in ((vector, alpha), (keyword, 1.0 - alpha)):
        if not scores or weight == 0:
            continue
        low, high = min(scores.values()), max(scores.values())
        for key, s in scores.items():
            scaled = (s - low) / (high - low) if high > low else 1.0
            fused[key] = fused.get(key, 0.0) + weight * scaled
    return fused


class EmbeddedVectorIndex:
    """Satisfies ``VectorIndex``. ``space`` names the embedding space (the embedder), so
    vectors of different embedders are never compared."""

    def __init__(self, path: Path, space: str) -> None:
        self._space = space
        self._db = SQLiteThread(path, _SCHEMA, name="embedded vector index",
                                thread_name="vectors", timeout=10.0,
                                error_prefix="embedded vector index: ")
        self._writes = 0
        self._cache: dict[tuple[str, str], tuple[tuple[int, int], list[int], Matrix]] = {}

    @classmethod
    def from_url(cls, url: str, space: str) -> EmbeddedVectorIndex:
        """``embedded:///relative/dir`` or ``embedded:////absolute/dir``, as SQLite URLs
        are spelled; the index is the file ``vectors.db`` in that directory."""
        return cls(Path(url.removeprefix("embedded:///")) / "vectors.db", space)

    @property
    def description(self) -> str:
        return f"embedded {self._db.path} ({self._space})"

    async def start(self) -> None:
        await self._db.start()
        await self._db.run(_add_page)

    async def close(self) -> None:
        await self._db.close()

    async def ready(self) -> tuple[bool, str]:
        return await self._db.ready(self.description)

    async def upsert(self, chunks: Sequence[IndexedChunk]) -> None:
        rows = [(self._space, c.tenant_id, c.document_id, c.chunk, c.scope,
                 c.title, c.text, _unit(c.vector).tobytes(), c.page) for c in chunks]

        def write(db: sqlite3.Connection) -> None:
            db.executemany(
                "INSERT INTO chunks (space, tenant_id, document_id, chunk, conversation_id, "
                "title, text, vector, page) VALUES (?,?,?,?,?,?,?,?,?) "
                "ON CONFLICT (space, tenant_id, document_id, chunk) DO UPDATE SET "
                "conversation_id=excluded.conversation_id, title=excluded.title, "
                "text=excluded.text, vector=excluded.vector, page=excluded.page", rows)
            self._writes += 1
        if rows:
            await self._db.run(write)

    async def delete_document(self, tenant_id: str, document_id: str,
                              from_chunk: int = 0) -> None:
        def delete(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM chunks WHERE space=? AND tenant_id=? AND document_id=? "
                       "AND chunk>=?", (self._space, tenant_id, document_id, from_chunk))
            self._writes += 1
        await self._db.run(delete)

    async def count(self, tenant_id: str, document_id: str) -> int:
        row = await self._db.run(lambda db: db.execute(
            "SELECT count(*) FROM chunks WHERE space=? AND tenant_id=? AND document_id=?",
            (self._space, tenant_id, document_id)).fetchone())
        return int(row[0])

    async def passage(self, tenant_id: str, document_id: str, chunk: int) -> Hit | None:
        row = await self._db.run(lambda db: db.execute(
            "SELECT document_id, chunk, title, text, conversation_id, page FROM chunks "
            "WHERE space=? AND tenant_id=? AND document_id=? AND chunk=?",
            (self._space, tenant_id, document_id, chunk)).fetchone())
        if row is None:
            return None
        return Hit(document_id=row[0], chunk=row[1], title=row[2], text=row[3], score=0.0,
                   similarity=0.0, scope=row[4], page=row[5])

    async def search(self, tenant_id: str, query: str, vector: Sequence[float], *,
                     scope: str, limit: int, alpha: float = DEFAULT_ALPHA) -> list[Hit]:
        pool = max(4 * limit, 40)  # candidates from each side, as Weaviate fetches them
        q = _unit(vector)

        def search(db: sqlite3.Connection) -> list[Hit]:
            by_vector: dict[int, float] = {}
            by_keyword: dict[int, float] = {}
            if alpha > 0:
                ids, matrix = self._vectors(db, tenant_id, scope)
                if ids and matrix.shape[1] == q.shape[0]:
                    sims = matrix @ q
                    for i in np.argsort(-sims)[:pool]:
                        by_vector[ids[i]] = float(sims[i])
            terms = list(dict.fromkeys(w for w in words(query) if w not in STOPWORDS))
            if alpha < 1 and terms:
                match = " OR ".join('"' + t.replace('"', "") + '"' for t in terms)
                for rowid, score in db.execute(
                        "SELECT c.rowid, -bm25(chunks_fts) FROM chunks_fts "
                        "JOIN chunks c ON c.rowid = chunks_fts.rowid WHERE chunks_fts MATCH ? "
                        "AND c.space=? AND c.tenant_id=? AND c.conversation_id=? "
                        "ORDER BY bm25(chunks_fts) LIMIT ?",
                        (match, self._space, tenant_id, scope, pool)):
                    by_keyword[rowid] = float(score)
            fused = fuse(by_vector, by_keyword, alpha)
            best = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
            if not best:
                return []
            marks = ",".join("?" * len(best))
            rows = {r[0]: r for r in db.execute(
                f"SELECT rowid, document_id, chunk, title, text, conversation_id, vector, "
                f"page FROM chunks WHERE rowid IN ({marks})", [rowid for rowid, _ in best])}
            return [Hit(document_id=rows[rid][1], chunk=rows[rid][2], title=rows[rid][3],
                        text=rows[rid][4], score=round(score, 6),
                        similarity=_similarity(rows[rid][6], q),
                        scope=rows[rid][5], page=rows[rid][7])
                    for rid, score in best if rid in rows]
        return await self._db.run(search)

    def _vectors(self, db: sqlite3.Connection, tenant_id: str,
                 scope: str) -> tuple[list[int], Matrix]:
        # data_version moves when another connection (another process) commits; our own
        # writes are counted in _writes. Either one invalidates the cached matrix.
        version = (int(db.execute("PRAGMA data_version").fetchone()[0]), self._writes)
        cached = self._cache.get((tenant_id, scope))
        if cached is not None and cached[0] == version:
            return cached[1], cached[2]
        rows: list[Any] = db.execute(
            "SELECT rowid, vector FROM chunks WHERE space=? AND tenant_id=? AND "
            "conversation_id=?", (self._space, tenant_id, scope)).fetchall()
        ids = [r[0] for r in rows]
        if rows:
            matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
            matrix = matrix.reshape(len(rows), -1)
        else:
            matrix = np.zeros((0, 0), dtype=np.float32)
        if len(self._cache) > 256:
            self._cache.clear()
        self._cache[(tenant_id, scope)] = (version, ids, matrix)
        return ids, matrix


def _add_page(db: sqlite3.Connection) -> None:
    """Indexes made before passages kept their page get the column."""
    if "page" not in {row[1] for row in db.execute("PRAGMA table_info(chunks)")}:
        db.execute("ALTER TABLE chunks ADD COLUMN page INTEGER")


def _similarity(blob: bytes, query: Matrix) -> float:
    stored = np.frombuffer(blob, dtype=np.float32)
    return round(float(stored @ query), 6) if stored.shape == query.shape else 0.0


def _unit(vector: Sequence[float]) -> Matrix:
    v = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v
