"""Conversations: create, list, search, read, rename and set up, delete; bookmarks and
public links. Their messages are in :mod:`api.routes.messages`."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response

from api.deps import OwnConversation, PrincipalDep, ServicesDep
from api.errors import ApiError
from api.guards.idempotency import fingerprint, once
from api.guards.limits import count
from api.services import EdgeServices
from schemas.accounts import ShareOut, ShareRequest
from schemas.events import utcnow
from schemas.http import (
    ConversationCreate,
    ConversationList,
    ConversationOut,
    ConversationSettings,
    ConversationUpdate,
    SearchHit,
    SearchResults,
)
from stores.accounts.base import AccountStore, Share
from stores.conversations.base import DEFAULT_TITLE, Conversation, Found

__all__ = ("router",)

router = APIRouter(prefix="/v1/conversations", tags=["conversations"])
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]


def _out(c: Conversation, with_settings: bool = False) -> ConversationOut:
    return ConversationOut(
        id=c.id, title=c.title, created_at=c.created_at, updated_at=c.created_at,
        settings=ConversationSettings.model_validate(c.settings or {}) if with_settings
        else None)


def _settings(services: EdgeServices, settings: ConversationSettings) -> dict[str, Any]:
    """The settings as stored; a model the catalogue lacks is refused now, not at the
    next message."""
    if settings.model is not None and services.catalogue.get(settings.model) is None:
        raise ApiError(422, "unknown_model",
                       f"model {settings.model!r} is not configured; see GET /v1/models")
    return settings.model_dump(exclude_none=True)


@router.post("", status_code=201, response_model=ConversationOut)
async def create_conversation(services: ServicesDep, principal: PrincipalDep,
                              body: ConversationCreate | None = None,
                              idempotency_key: IdempotencyKey = None) -> ConversationOut:
    """A new conversation, titled ``title`` or, until the model writes one after the
    first answer, "New conversation"."""
    settings = _settings(services, body.settings) if body and body.settings else None
    await count(services, principal)
    conversation = Conversation(
        tenant_id=principal.tenant_id, id=str(uuid.uuid4()), user_id=principal.user_id,
        title=(body.title.strip() if body and body.title and body.title.strip()
               else DEFAULT_TITLE),
        created_at=utcnow(), settings=settings or None,
    )
    out, _ = await once(
        services, principal.tenant_id, idempotency_key,
        lambda: fingerprint("conversation", principal.user_id,
                            body.model_dump() if body else None),
        _out(conversation, True), lambda: services.store.create_conversation(conversation))
    return out


@router.get("", response_model=ConversationList)
async def list_conversations(services: ServicesDep, principal: PrincipalDep,
                             limit: int = 50, bookmarked: bool = False) -> ConversationList:
    """Newest first; ``?bookmarked=true``: only the bookmarked ones."""
    found = await services.store.list_conversations(principal.tenant_id, principal.user_id,
                                                    max(1, min(limit, 200)))
    if bookmarked:
        marks = await _bookmarks(services).bookmarks(principal.tenant_id, principal.user_id)
        found = [c for c in found if c.id in marks]
    return ConversationList(data=[_out(c) for c in found])


def _snippet(text: str, query: str, room: int = 60) -> str:
    """The message around the first match, on one line."""
    flat = " ".join(text.split())
    at = flat.casefold().find(query.casefold())
    if at < 0:
        return flat[: room * 2]
    start, end = max(0, at - room), min(len(flat), at + len(query) + room)
    return f"{'…' if start else ''}{flat[start:end]}{'…' if end < len(flat) else ''}"


def _hit(found: Found, query: str) -> SearchHit:
    c, m = found.conversation, found.message
    return SearchHit(conversation_id=c.id, title=c.title, created_at=c.created_at,
                     message_id=m.id if m else None,
                     snippet=_snippet(m.text, query) if m else None)


@router.get("/search", response_model=SearchResults)
async def search(services: ServicesDep, principal: PrincipalDep,
                 q: Annotated[str, Query(min_length=1, max_length=200, description=(
                     "words to find in titles and messages (case folded, as typed)"))],
                 limit: Annotated[int, Query(ge=1, le=50)] = 20) -> SearchResults:
    """The caller's conversations whose title or messages contain ``q``, newest first,
    with the newest matching message's text around the match. On SQLite every
    conversation is searched; on Cassandra, which has no text index, the newest ones
    only (``complete`` false: see the README)."""
    query = " ".join(q.split())
    if not query:
        raise ApiError(422, "empty_query", "q must contain a word")
    outcome = await services.store.search(principal.tenant_id, principal.user_id, query,
                                          limit)
    return SearchResults(data=[_hit(f, query) for f in outcome.found],
                         complete=outcome.complete, searched=outcome.searched)


@router.get("/{cid}", response_model=ConversationOut)
async def get_conversation(cid: str, services: ServicesDep, principal: PrincipalDep,
                           conversation: OwnConversation) -> ConversationOut:
    """One conversation with its settings (read from the store, not the cache)."""
    fresh = await services.store.get_conversation(principal.tenant_id, cid)
    if fresh is None:
        raise ApiError(404, "not_found", f"conversation {cid} not found")
    return _out(fresh, True)


@router.patch("/{cid}", response_model=ConversationOut)
async def update_conversation(cid: str, body: ConversationUpdate, services: ServicesDep,
                              principal: PrincipalDep,
                              conversation: OwnConversation) -> ConversationOut:
    """Rename it (``title``) and replace its settings (``settings``, as a whole): its
    next messages use them."""
    title = body.title.strip() if body.title is not None else None
    if title == "":
        raise ApiError(422, "empty_title", "title must not be blank")
    settings = _settings(services, body.settings) if body.settings is not None else None
    updated = await services.store.update_conversation(
        principal.tenant_id, cid, title=title, settings=settings)
    # This edge's next message reads the new settings (others within the cache's
    # few seconds).
    services.owners.forget(principal.tenant_id, cid)
    if updated is None:
        raise ApiError(404, "not_found", f"conversation {cid} not found")
    return _out(updated, True)


@router.delete("/{cid}", status_code=204)
async def delete_conversation(cid: str, conversation: OwnConversation,
                              services: ServicesDep, principal: PrincipalDep) -> Response:
    """Delete one of the caller's conversations with its messages; a public link to it
    goes too."""
    if services.accounts is not None:
        shared = await services.accounts.share_of(principal.tenant_id, cid)
        if shared is not None:
            await services.accounts.delete_share(shared.token)
        await services.accounts.set_bookmark(principal.tenant_id, principal.user_id, cid,
                                             False)
    services.owners.forget(principal.tenant_id, cid)
    await services.store.delete_conversation(principal.tenant_id, cid)
    services.owners.forget(principal.tenant_id, cid)  # a check that raced the delete
    return Response(status_code=204)


@router.put("/{cid}/bookmark", status_code=204)
async def bookmark(cid: str, conversation: OwnConversation, services: ServicesDep,
                   principal: PrincipalDep) -> Response:
    await _bookmarks(services).set_bookmark(principal.tenant_id, principal.user_id, cid, True)
    return Response(status_code=204)


@router.delete("/{cid}/bookmark", status_code=204)
async def unbookmark(cid: str, conversation: OwnConversation, services: ServicesDep,
                     principal: PrincipalDep) -> Response:
    await _bookmarks(services).set_bookmark(principal.tenant_id, principal.user_id, cid,
                                            False)
    return Response(status_code=204)


def _bookmarks(services: ServicesDep) -> AccountStore:
    if services.accounts is None:
        raise ApiError(404, "auth_disabled", "bookmarks need CHATSTREAM_AUTH=jwt")
    return services.accounts


@router.patch("/{cid}/share", response_model=ShareOut)
async def share(cid: str, conversation: OwnConversation, services: ServicesDep,
                principal: PrincipalDep, body: ShareRequest | None = None) -> ShareOut:
    """``{"public": true}`` makes a read-only public link; ``false`` takes it down."""
    if services.accounts is None or services.credentials is None:
        raise ApiError(404, "auth_disabled", "sharing needs CHATSTREAM_AUTH=jwt")
    shared = await services.accounts.share_of(principal.tenant_id, cid)
    if body is not None and not body.public:
        if shared is not None:
            await services.accounts.delete_share(shared.token)
        return ShareOut(public=False)
    if shared is None:  # sharing twice keeps the one link
        shared = await services.accounts.create_share(
            Share(services.credentials.share_token(), principal.tenant_id, cid))
    return ShareOut(public=True, url=f"/v1/public/conversations/{shared.token}")
