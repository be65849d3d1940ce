"""Conversations and their messages."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import StreamingResponse

from api.assistants.use import AssistantRefused, apply_assistant, for_conversation
from api.deps import OwnConversation, PrincipalDep, ServicesDep
from api.disconnect import canceller, unless_disconnected
from api.errors import ApiError
from api.guards.idempotency import fingerprint, once
from api.guards.limits import count
from api.guards.slots import hold
from api.openai_compat.completions_input import BadField, native_options
from api.relay.native import NativeSse, open_stream
from api.relay.render import frames
from api.relay.response import sse_response
from api.shapes import message_out
from api.submit import submit
from schemas.accounts import ShareOut, ShareRequest
from schemas.assistants import ASSISTANT_MODEL_PREFIX
from schemas.events import MessageReceived, new_id, utcnow
from schemas.http import (
    ConversationCreate,
    ConversationList,
    ConversationOut,
    MessageAccepted,
    MessageCreate,
    MessageList,
)
from stores.accounts.base import AccountStore, Share
from stores.conversations.base import Conversation

__all__ = ("router",)

router = APIRouter(prefix="/v1/conversations", tags=["conversations"])
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]


def _out(c: Conversation) -> ConversationOut:
    return ConversationOut(id=c.id, title=c.title, created_at=c.created_at,
                           updated_at=c.created_at)


@router.post("", status_code=201, response_model=ConversationOut)
async def create_conversation(services: ServicesDep, principal: PrincipalDep,
                              body: ConversationCreate | None = None,
                              idempotency_key: IdempotencyKey = None) -> ConversationOut:
    await count(services, principal)
    conversation = Conversation(
        tenant_id=principal.tenant_id, id=str(uuid.uuid4()), user_id=principal.user_id,
        title=(body.title if body and body.title else "New conversation"),
        created_at=utcnow(),
    )
    out, _ = await once(
        services, principal.tenant_id, idempotency_key,
        lambda: fingerprint("conversation", principal.user_id,
                            body.model_dump() if body else None),
        _out(conversation), lambda: services.store.create_conversation(conversation))
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


@router.get("/{cid}/messages", response_model=MessageList)
async def list_messages(cid: str, conversation: OwnConversation, services: ServicesDep,
                        principal: PrincipalDep, limit: int = 100) -> MessageList:
    found = await services.store.list_messages(principal.tenant_id, cid,
                                               max(1, min(limit, 1000)))
    return MessageList(data=[message_out(m) for m in found])


@router.post("/{cid}/messages", status_code=202, response_model=MessageAccepted,
             responses={200: {"content": {"text/event-stream": {}}}})
async def post_message(
    cid: str, body: MessageCreate, conversation: OwnConversation, services: ServicesDep,
    principal: PrincipalDep, request: Request,
    accept: Annotated[str | None, Header()] = None, idempotency_key: IdempotencyKey = None,
) -> MessageAccepted | StreamingResponse:
    settings = services.settings
    streamed = bool(accept and "text/event-stream" in accept)
    if streamed:  # refused before the message is published or counted, not after
        hold(request.scope, principal.tenant_id, principal.user_id)
    text = body.text.strip()
    if not text:
        raise ApiError(422, "empty_text", "text must not be empty")
    if len(body.text) > settings.max_message_chars:
        raise ApiError(413, "text_too_long",
                       f"text has {len(body.text)} characters; the limit is "
                       f"{settings.max_message_chars}")
    try:
        if body.model and body.model.startswith(ASSISTANT_MODEL_PREFIX):
            # The page's picker (and /v1/models) name assistants as models.
            body = body.model_copy(update={
                "assistant": body.model.removeprefix(ASSISTANT_MODEL_PREFIX), "model": None})
        chosen = await for_conversation(services, principal, cid, body.assistant)
    except AssistantRefused as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None
    model = body.model or settings.default_model
    if chosen is not None:
        model = chosen.version.spec.model or settings.default_model
    spec = services.catalogue.get(model)
    if spec is None:
        raise ApiError(422, "unknown_model",
                       f"model {model!r} is not configured; see GET /v1/models")
    try:
        options = native_options(body.options, spec)
    except BadField as exc:
        raise ApiError(422, exc.code, exc.message) from None
    if body.web_search and not settings.web_search:
        raise ApiError(422, "web_search_unavailable",
                       "web_search: this deployment has no web search (WEB_SEARCH)")
    event = MessageReceived(
        tenant_id=principal.tenant_id, request_id=new_id(), message_id=new_id(),
        conversation_id=cid, user_id=principal.user_id, text=body.text, model=model,
        options=options, web_search=body.web_search,
        memory=services.memories is not None and await services.memories.allowed(
            principal.tenant_id, principal.user_id, body.memory),
    )
    if chosen is not None:
        try:
            applied = await apply_assistant(
                services, principal, chosen.version, model=body.model, options=options,
                variables=body.variables, web_search=body.web_search)
        except AssistantRefused as exc:
            raise ApiError(exc.status, exc.code, exc.message) from None
        event = event.model_copy(update={
            "model": applied.model, "options": applied.options,
            "web_search": applied.web_search, "assistant": applied.assistant,
            "variables": applied.variables})
        await chosen.accepted(services)
    elif body.variables:
        raise ApiError(400, "unknown_variable", "variables need an assistant")
    accepted = MessageAccepted(request_id=event.request_id, message_id=event.message_id,
                               conversation_id=cid,
                               events_url=f"/v1/requests/{event.request_id}/events")

    accepted, _ = await once(
        services, principal.tenant_id, idempotency_key,
        lambda: fingerprint("message", cid, principal.user_id, body.model_dump()), accepted,
        lambda: submit(services, principal, event))
    if streamed:
        stream = await open_stream(services, principal, accepted.request_id)
        # The client streams the answer it asked for: leaving cancels it (unless it said
        # X-Chatstream-On-Disconnect: continue, to read it again later).
        leave = canceller(request, services, principal, stream)
        return sse_response(unless_disconnected(frames(stream, NativeSse()), leave),
                            {"X-Request-Id": stream.request_id})
    return accepted


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
