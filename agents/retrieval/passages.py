"""The retrieval stage's passages: hybrid search of the vector index in each knowledge
scope that applies to the message (``scopes_of``), narrowest first: the conversation's own
documents, then the tenant's library.

A passage is kept when it shares a content word with the message or, found by meaning
alone, when its cosine similarity reaches ``min_similarity``: without that floor every
message would cite the nearest passage, however unrelated. Only documents whose status
is ``ready`` are cited, so a deleted document is never cited even if its chunks linger.

A memory is a fact about its user, so it is recalled only into a message that speaks of
its user (``speaks_of_user``) and only by meaning (its similarity reaches the floor): one
word shared with a one-line fact says little ("What colour is the bridge painted?" is not
about the user's favourite colour).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Sequence

from agents.embedders.base import Embedder
from kernel.errors import ProviderError, StoreUnavailable
from schemas.events import MessageReceived, Passage
from schemas.scopes import TENANT, Scope
from stores.documents.base import Document, DocumentStore
from stores.memories.base import MEMORY_TITLE, memory_scope
from stores.vectors.base import DEFAULT_ALPHA, Hit, VectorIndex
from stores.vectors.text import content_words, words

__all__ = ("IndexedPassages", "scopes_of", "speaks_of_user")

log = logging.getLogger(__name__)

MEMORIES_RECALLED = 3
"""A user's memories recalled into one prompt at most (the most relevant)."""

# Words by which a message speaks of the one who sends it (English, French, Spanish,
# German, Portuguese, Italian); ``words`` keeps an elided "j'" on its word.
_FIRST_PERSON = frozenset("""
i me my mine myself i'm i've i'd i'll je moi mon ma mes yo mí mi mis conmigo ich mich mir
mein meine meinen meinem meiner eu meu minha meus minhas io mio mia miei mie
""".split())

# Tenants known to have had a document: bounded, the least recently asking forgotten first.
_TENANTS_KEPT = 10_000


def speaks_of_user(text: str) -> bool:
    """Whether ``text`` refers to its sender (a first-person word): only then may a fact
    about them matter to it."""
    return any(w in _FIRST_PERSON or w.startswith(("j'", "m'")) for w in words(text))


def scopes_of(request: MessageReceived, collections: Sequence[str] = ("library",)
              ) -> tuple[Scope, ...]:
    """The scopes whose documents a message may cite, narrowest (searched first) first:
    its conversation's, its assistant's own, then the collections the assistant may cite
    (``library``: the tenant's; another assistant's name: that one's documents)."""
    found = [Scope.conversation(request.conversation_id)]
    if request.assistant is not None:
        found.append(Scope.assistant(request.assistant.name))
    found += [TENANT if c == "library" else Scope.assistant(c) for c in collections]
    return tuple(dict.fromkeys(found))


class IndexedPassages:
    """Satisfies ``PassageSource``."""

    def __init__(self, index: VectorIndex, embedder: Embedder, documents: DocumentStore, *,
                 alpha: float = DEFAULT_ALPHA, min_similarity: float = 0.25) -> None:
        self._index = index
        self._embedder = embedder
        self._documents = documents
        self._alpha = alpha
        self._min_similarity = min_similarity
        self._with_documents: OrderedDict[str, None] = OrderedDict()

    async def search(self, request: MessageReceived, limit: int,
                     collections: Sequence[str] = ("library",)) -> list[Passage]:
        if limit <= 0:
            return []
        tenant, text = request.tenant_id, request.text
        try:
            documents = await self._has_documents(tenant)
            recall = request.memory and speaks_of_user(text)
            if not documents and not recall:
                return []  # nothing to find: the question is not embedded for nothing
            [vector] = await self._embedder.embed([text], tenant)
            scopes = [s.key for s in scopes_of(request, collections)] if documents else []
            if recall:
                scopes.append(memory_scope(request.user_id))
            found = await asyncio.gather(*(
                self._index.search(tenant, text, vector, scope=scope,
                                   limit=MEMORIES_RECALLED if scope.startswith("memory:")
                                   else limit, alpha=self._alpha)
                for scope in scopes))
            wanted = set(content_words(text))
            hits = [h for hits in found for h in hits]
            recalled = [h for h in hits if h.document_id.startswith("memory:")
                        and h.similarity >= self._min_similarity]
            hits = [h for h in hits if not h.document_id.startswith("memory:")
                    and self._relevant(h, wanted)]
            ready = await self._ready_documents(tenant, {h.document_id for h in hits})
        except (StoreUnavailable, ProviderError) as exc:
            # Chat goes on without documents rather than not at all.
            log.warning("retrieval: no passages for %s: %s", request.request_id, exc)
            return []
        # A page ingested by URL is cited with its address; a memory as a memory (its
        # document id is ``memory:<id>``, and only its user's scope was searched).
        cited = [Passage(document_id=h.document_id, title=h.title, chunk=h.chunk, text=h.text,
                         score=h.score, url=ready[h.document_id].url, page=h.page)
                 for h in hits if h.document_id in ready][:limit]
        return cited + [Passage(document_id=h.document_id, title=MEMORY_TITLE, chunk=0,
                                text=h.text, score=h.score) for h in recalled]

    async def _has_documents(self, tenant_id: str) -> bool:
        """Whether the tenant has any document. Once it has had one, it is assumed to have
        some (a search that finds none costs time, never a wrong answer); until then, the
        store is asked at each message, so a first upload is searched at once."""
        if tenant_id in self._with_documents:
            self._with_documents.move_to_end(tenant_id)
            return True
        if not await self._documents.list_documents(tenant_id, limit=1):
            return False
        self._with_documents[tenant_id] = None
        if len(self._with_documents) > _TENANTS_KEPT:
            self._with_documents.popitem(last=False)
        return True

    def _relevant(self, hit: Hit, wanted: set[str]) -> bool:
        if hit.similarity >= self._min_similarity:
            return True
        return bool(wanted & set(content_words(f"{hit.title} {hit.text}")))

    async def _ready_documents(self, tenant_id: str, ids: set[str]) -> dict[str, Document]:
        found = await asyncio.gather(*(self._documents.get(tenant_id, i) for i in ids))
        return {d.id: d for d in found if d is not None and d.status == "ready"}
