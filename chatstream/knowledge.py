"""Composition of the document parts: the document store, the embedder, the vector index,
and the two stages' views of them (retrieval's passage source, the ingestion stage)."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, replace

from agents.embedders.base import Embedder
from agents.embedders.hashing import HashingEmbedder
from agents.ingestion import stage as ingestion
from agents.ingestion.extract import ocr_available
from agents.ingestion.fetch import FetchLimits
from agents.ingestion.sandbox import ExtractionLimits
from agents.memory import stage as memory
from agents.memory.model import Proposer
from agents.retrieval.passages import IndexedPassages
from kernel.errors import ConfigurationError
from kernel.settings import Settings
from stores.documents.base import DocumentStore
from stores.memories.base import MemoryStore
from stores.vectors.base import VectorIndex
from stores.vectors.embedded import EmbeddedVectorIndex
from streams.runtime.base import StageSpec

__all__ = ("Knowledge", "build_embedder", "build_index", "build_knowledge")

log = logging.getLogger("chatstream")


def build_embedder(settings: Settings) -> Embedder:
    if settings.embedder in ("auto", "minilm"):
        from agents.embedders.onnx import OnnxEmbedder, minilm_files

        try:
            return OnnxEmbedder(minilm_files())
        except ConfigurationError as exc:
            if settings.embedder == "minilm":
                raise
            log.warning("%s; documents are indexed with the lexical hashing embedder", exc)
    if settings.embedder in ("auto", "hashing"):
        return HashingEmbedder()
    from agents.embedders.openai import OpenAIEmbedder

    key = settings.embeddings_api_key.get_secret_value()
    if not key and not settings.embeddings_base_url:
        raise ConfigurationError("the openai embedder needs CHATSTREAM_EMBEDDINGS_API_KEY "
                                 "(or CHATSTREAM_EMBEDDINGS_BASE_URL for a local endpoint)")
    # Local OpenAI-compatible servers often take no key; the SDK insists on one.
    return OpenAIEmbedder(settings.embeddings_model, api_key=key or "none",
                          base_url=settings.embeddings_base_url or None)


def build_index(settings: Settings, space: str) -> VectorIndex:
    url = settings.vectors_url
    if url.startswith("weaviate://"):
        from stores.vectors.weaviate import WeaviateVectorIndex
        return WeaviateVectorIndex.from_url(url, grpc_port=settings.weaviate_grpc_port,
                                            space=space)
    return EmbeddedVectorIndex.from_url(url, space)


@dataclass(frozen=True)
class Knowledge:
    settings: Settings
    documents: DocumentStore
    embedder: Embedder
    index: VectorIndex

    async def start(self) -> None:
        await self.documents.start()
        await self.index.start()

    async def close(self) -> None:
        for close in (self.index.close, self.embedder.close, self.documents.close):
            with contextlib.suppress(Exception):
                await close()

    def passages(self) -> IndexedPassages:
        return IndexedPassages(self.index, self.embedder, self.documents,
                               alpha=self.settings.rag_alpha,
                               min_similarity=self.settings.rag_min_similarity)

    def ingestion_stage(self) -> StageSpec:
        return ingestion.stage(ingestion.IngestionDeps(
            documents=self.documents, index=self.index, embedder=self.embedder,
            passage_tokens=self.settings.passage_tokens,
            overlap_tokens=self.settings.passage_overlap_tokens,
            limits=ExtractionLimits(cpu_s=self.settings.extract_cpu_s,
                                    memory_mb=self.settings.extract_memory_mb,
                                    wall_s=self.settings.extract_timeout_s,
                                    max_passages=self.settings.extract_max_passages),
            fetch=FetchLimits(max_bytes=self.settings.max_document_bytes,
                              timeout_s=self.settings.url_fetch_timeout_s,
                              max_redirects=self.settings.url_fetch_max_redirects,
                              allow_loopback=self.settings.url_fetch_allow_loopback)))

    def memory_stage(self, store: MemoryStore, propose: Proposer | None = None) -> StageSpec:
        deps = memory.MemoryDeps(store=store, index=self.index, embedder=self.embedder)
        return memory.stage(replace(deps, propose=propose) if propose else deps)

    def describe(self) -> str:
        ocr = "tesseract" if ocr_available() else "none (images will fail to index)"
        return f"vectors={self.index.description} embedder={self.embedder.space} ocr={ocr}"


def build_knowledge(settings: Settings, documents: DocumentStore) -> Knowledge:
    embedder = build_embedder(settings)
    return Knowledge(settings, documents, embedder,
                     build_index(settings, embedder.space))
