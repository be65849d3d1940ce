"""Weaviate vector index (weaviate-client v4, async): one collection per embedding space,
native multi-tenancy with one Weaviate tenant per chatstream tenant, vectors supplied by
chatstream (no Weaviate vectorizer), hybrid BM25 + vector search with relative score fusion.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlparse

import grpc
import numpy as np
import weaviate
from weaviate.classes.config import Configure, DataType, Property, Tokenization
from weaviate.classes.data import DataObject
from weaviate.classes.init import AdditionalConfig, Timeout
from weaviate.classes.query import Filter, HybridFusion, MetadataQuery
from weaviate.exceptions import (
    UnexpectedStatusCodeError,
    WeaviateBaseError,
    WeaviateClosedClientError,
    WeaviateConnectionError,
    WeaviateGRPCUnavailableError,
    WeaviateQueryError,
    WeaviateRetryError,
    WeaviateStartUpError,
    WeaviateTimeoutError,
)
from weaviate.util import generate_uuid5

from kernel.errors import ChatstreamError, ConfigurationError, StoreUnavailable
from stores.vectors.base import DEFAULT_ALPHA, Hit, IndexedChunk

__all__ = ("DEFAULT_COLLECTION", "WeaviateVectorIndex", "collection_name", "tenant_name")

log = logging.getLogger(__name__)

DEFAULT_COLLECTION = "ChatstreamChunks"
_TENANT = re.compile(r"[A-Za-z0-9_-]{1,64}")
_COLLECTION = re.compile(r"[A-Z][A-Za-z0-9_]*")
# What "Weaviate cannot be reached, retry later" looks like in the client.
_UNREACHABLE: tuple[type[BaseException], ...] = (
    WeaviateConnectionError, WeaviateGRPCUnavailableError, WeaviateTimeoutError,
    WeaviateRetryError, WeaviateStartUpError, WeaviateClosedClientError, OSError,
)
# conversation_id holds the scope's key ("" for the tenant's library): named when a
# conversation was the only scope narrower than the tenant.
_PROPERTIES = ["document_id", "chunk", "title", "text", "conversation_id", "page"]


async def grpc_serving(host: str, port: int, *, timeout_s: float) -> None:
    """gRPC's standard health check (``grpc.health.v1.Health/Check``, every service):
    Weaviate's searches go over gRPC, so an index whose gRPC port does not answer
    SERVING is unreachable however its REST port answers."""
    serving = b"\x08\x01"  # HealthCheckResponse{status: SERVING}, the whole message
    try:
        async with grpc.aio.insecure_channel(f"{host}:{port}") as channel:
            check = channel.unary_unary("/grpc.health.v1.Health/Check",
                                        request_serializer=lambda _: b"",
                                        response_deserializer=lambda raw: raw)
            answer = await check(None, timeout=timeout_s)
    except grpc.RpcError as exc:
        raise WeaviateGRPCUnavailableError(f"gRPC {host}:{port}: {exc}") from exc
    if answer != serving:
        raise WeaviateGRPCUnavailableError(f"gRPC {host}:{port} is not serving")


def tenant_name(tenant_id: str) -> str:
    """The Weaviate tenant of a chatstream tenant: the id itself when Weaviate accepts
    it (letters, digits, ``_``, ``-``, at most 64), else a digest of it."""
    if _TENANT.fullmatch(tenant_id):
        return tenant_id
    return "h-" + hashlib.sha256(tenant_id.encode()).hexdigest()[:40]


def collection_name(base: str, space: str) -> str:
    """One collection per embedding space, so vectors of two embedders never meet."""
    return f"{base}_{re.sub(r'[^A-Za-z0-9]+', '_', space).strip('_')}"


def _chunk_uuid(tenant_id: str, document_id: str, chunk: int) -> str:
    return str(generate_uuid5(f"{tenant_id}:{document_id}:{chunk}"))


def _page(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) else None


def _not_found(exc: WeaviateBaseError) -> bool:
    return "tenant not found" in str(exc)


class WeaviateVectorIndex:
    """Satisfies ``VectorIndex``; nothing connects before :meth:`start`."""

    def __init__(self, host: str, port: int, grpc_port: int, space: str, *,
                 collection: str = DEFAULT_COLLECTION, timeout_s: float = 30.0) -> None:
        if not _COLLECTION.fullmatch(collection):
            raise ConfigurationError(f"not a Weaviate collection name: {collection!r} "
                                     "(a capital letter, then letters, digits or _)")
        self._host, self._port, self._grpc_port = host, port, grpc_port
        self._space = space
        self._name = collection_name(collection, space)
        self._timeout_s = timeout_s
        self._client: Any = None
        self._collection: Any = None

    @classmethod
    def from_url(cls, url: str, *, grpc_port: int, space: str) -> WeaviateVectorIndex:
        """``weaviate://host:port[/Collection]``; the gRPC port is a setting of its own."""
        parts = urlparse(url)
        if parts.scheme != "weaviate" or not parts.hostname:
            raise ConfigurationError(f"not a weaviate url: {url!r}")
        collection = parts.path.strip("/") or DEFAULT_COLLECTION
        return cls(parts.hostname, parts.port or 8080, grpc_port, space, collection=collection)

    @property
    def description(self) -> str:
        return (f"weaviate {self._host}:{self._port} (grpc {self._grpc_port}) "
                f"collection {self._name}")

    @property
    def collection(self) -> str:
        return self._name

    async def start(self) -> None:
        if self._client is not None:
            return
        # The client's own start-up checks ask pypi.org for its latest version (a call
        # off this network, hanging where DNS does): skipped, and the gRPC check they
        # also hold is made here instead.
        client = weaviate.use_async_with_local(
            host=self._host, port=self._port, grpc_port=self._grpc_port,
            additional_config=AdditionalConfig(timeout=Timeout(
                init=10, query=self._timeout_s, insert=self._timeout_s * 2)),
            skip_init_checks=True)
        try:
            await client.connect()
            await grpc_serving(self._host, self._grpc_port, timeout_s=10)
            await self._ensure_collection(client)
        except _UNREACHABLE as exc:
            await client.close()
            raise StoreUnavailable(f"{self.description}: {exc}") from exc
        except BaseException:
            await client.close()
            raise
        self._client = client
        self._collection = client.collections.use(self._name)

    async def _ensure_collection(self, client: Any) -> None:
        if await client.collections.exists(self._name):
            await self._add_page(client)
            return
        try:
            await client.collections.create(
                self._name,
                properties=[
                    # Exact-match fields: filtered on, never searched as words.
                    Property(name="document_id", data_type=DataType.TEXT,
                             tokenization=Tokenization.FIELD, index_searchable=False),
                    Property(name="conversation_id", data_type=DataType.TEXT,
                             tokenization=Tokenization.FIELD, index_searchable=False),
                    Property(name="chunk", data_type=DataType.INT),
                    Property(name="page", data_type=DataType.INT),
                    Property(name="title", data_type=DataType.TEXT),
                    Property(name="text", data_type=DataType.TEXT),
                ],
                vector_config=Configure.Vectors.self_provided(),
                multi_tenancy_config=Configure.multi_tenancy(
                    enabled=True, auto_tenant_creation=True, auto_tenant_activation=True),
            )
        except UnexpectedStatusCodeError as exc:
            if not await client.collections.exists(self._name):
                raise
            log.debug("collection %s created concurrently: %s", self._name, exc)

    async def _add_page(self, client: Any) -> None:
        """Collections made before passages kept their page get the property."""
        collection = client.collections.use(self._name)
        config = await collection.config.get()
        if not any(p.name == "page" for p in config.properties):
            with contextlib.suppress(UnexpectedStatusCodeError):  # added concurrently
                await collection.config.add_property(
                    Property(name="page", data_type=DataType.INT))

    async def close(self) -> None:
        client, self._client, self._collection = self._client, None, None
        if client is not None:
            await client.close()

    async def ready(self) -> tuple[bool, str]:
        if self._client is None:
            return False, "weaviate: not started"
        try:
            ok = bool(await self._client.is_ready())
        except _UNREACHABLE as exc:
            return False, f"weaviate unreachable: {type(exc).__name__}"
        return ok, self.description if ok else f"{self.description}: not ready"

    def _tenant(self, tenant_id: str) -> Any:
        if self._collection is None:
            raise StoreUnavailable("weaviate vector index is not started")
        return self._collection.with_tenant(tenant_name(tenant_id))

    async def upsert(self, chunks: Sequence[IndexedChunk]) -> None:
        by_tenant: dict[str, list[IndexedChunk]] = {}
        for c in chunks:
            by_tenant.setdefault(c.tenant_id, []).append(c)
        for tenant_id, group in by_tenant.items():
            objects = [DataObject(
                uuid=_chunk_uuid(c.tenant_id, c.document_id, c.chunk),
                properties={"document_id": c.document_id, "chunk": c.chunk, "title": c.title,
                            "text": c.text, "conversation_id": c.scope, "page": c.page},
                vector=[float(x) for x in c.vector]) for c in group]
            try:
                # A batch with an existing uuid replaces that object: upsert by key.
                result = await self._tenant(tenant_id).data.insert_many(objects)
            except _UNREACHABLE as exc:
                raise StoreUnavailable(f"{self.description}: {exc}") from exc
            if result.has_errors:
                first = next(iter(result.errors.values()))
                raise ChatstreamError(f"weaviate refused a chunk: {first.message}")

    async def delete_document(self, tenant_id: str, document_id: str,
                              from_chunk: int = 0) -> None:
        where = Filter.by_property("document_id").equal(document_id)
        if from_chunk > 0:
            where = where & Filter.by_property("chunk").greater_or_equal(from_chunk)
        try:
            await self._tenant(tenant_id).data.delete_many(where=where)
        except _UNREACHABLE as exc:
            raise StoreUnavailable(f"{self.description}: {exc}") from exc
        except WeaviateQueryError as exc:
            if not _not_found(exc):
                raise

    async def count(self, tenant_id: str, document_id: str) -> int:
        try:
            result = await self._tenant(tenant_id).aggregate.over_all(
                total_count=True, filters=Filter.by_property("document_id").equal(document_id))
        except _UNREACHABLE as exc:
            raise StoreUnavailable(f"{self.description}: {exc}") from exc
        except WeaviateQueryError as exc:
            if _not_found(exc):
                return 0
            raise
        return int(result.total_count or 0)

    async def search(self, tenant_id: str, query: str, vector: Sequence[float], *,
                     scope: str, limit: int, alpha: float = DEFAULT_ALPHA) -> list[Hit]:
        q = np.asarray(vector, dtype=np.float32)
        q_norm = float(np.linalg.norm(q)) or 1.0
        try:
            result = await self._tenant(tenant_id).query.hybrid(
                query=query, vector=[float(x) for x in vector], alpha=alpha, limit=limit,
                query_properties=["text", "title"], fusion_type=HybridFusion.RELATIVE_SCORE,
                filters=Filter.by_property("conversation_id").equal(scope),
                return_properties=_PROPERTIES, include_vector=True,
                return_metadata=MetadataQuery(score=True))
        except _UNREACHABLE as exc:
            raise StoreUnavailable(f"{self.description}: {exc}") from exc
        except WeaviateQueryError as exc:
            if _not_found(exc):
                return []  # a tenant that never indexed anything
            raise
        hits = []
        for o in result.objects:
            p = o.properties
            stored = np.asarray(o.vector.get("default", ()), dtype=np.float32)
            similarity = 0.0
            if stored.shape == q.shape:
                similarity = float(stored @ q) / ((float(np.linalg.norm(stored)) or 1.0) * q_norm)
            hits.append(Hit(document_id=str(p["document_id"]), chunk=int(p["chunk"]),
                            title=str(p["title"]), text=str(p["text"]),
                            score=round(float(o.metadata.score or 0.0), 6),
                            similarity=round(similarity, 6),
                            scope=str(p["conversation_id"]), page=_page(p.get("page"))))
        return hits

    async def passage(self, tenant_id: str, document_id: str, chunk: int) -> Hit | None:
        try:
            found = await self._tenant(tenant_id).query.fetch_object_by_id(
                _chunk_uuid(tenant_id, document_id, chunk), return_properties=_PROPERTIES)
        except _UNREACHABLE as exc:
            raise StoreUnavailable(f"{self.description}: {exc}") from exc
        except WeaviateQueryError as exc:
            if _not_found(exc):
                return None
            raise
        if found is None:
            return None
        p = found.properties
        return Hit(document_id=str(p["document_id"]), chunk=int(p["chunk"]),
                   title=str(p["title"]), text=str(p["text"]), score=0.0, similarity=0.0,
                   scope=str(p["conversation_id"]), page=_page(p.get("page")))
