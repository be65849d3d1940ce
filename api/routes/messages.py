"""A conversation's messages: the history (every branch, each message naming its parent),
posting a question (after the newest message, after another one, or as a new version of
one), regenerating an answer, and exporting a branch as Markdown or JSON."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Response

from api.asgi.call import Call
from api.asgi.route import HotRoute, documented
from api.asgi.sse import send_sse
from api.deps import OwnConversation, Principal, PrincipalDep, ServicesDep, own_conversation
from api.disconnect import canceller
from api.errors import ApiError
from api.exports import export_json, export_markdown, filename
from api.guards.idempotency import fingerprint, once
from api.guards.slots import hold
from api.questions import Asked, Question, question
from api.relay.native import NativeSse, open_stream
from api.relay.render import frames
from api.services import EdgeServices
from api.shapes import message_out
from api.submit import submit
from schemas.http import MessageAccepted, MessageCreate, MessageList, Regenerate
from stores.conversations.base import StoredMessage
from stores.conversations.branches import branch, parents

__all__ = ("POST_MESSAGE", "router")

router = APIRouter(prefix="/v1/conversations", tags=["conversations"])
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]
# Messages read to find the one an edit, a regeneration or a parent names, and to export.
READ_BACK = 1000


@router.get("/{cid}/messages", response_model=MessageList)
async def list_messages(cid: str, conversation: OwnConversation, services: ServicesDep,
                        principal: PrincipalDep, limit: int = 100) -> MessageList:
    """The last ``limit`` messages (at most 1000), oldest first, of every branch: each
    names the message it follows (``parent_id``)."""
    found = await services.store.list_messages(principal.tenant_id, cid,
                                               max(1, min(limit, READ_BACK)))
    parent = parents(found)
    return MessageList(data=[message_out(m, parent[m.id]) for m in found])


async def _stored(services: EdgeServices, principal: Principal, cid: str,
                  ) -> list[StoredMessage]:
    return await services.store.list_messages(principal.tenant_id, cid, READ_BACK)


def _find(messages: list[StoredMessage], message_id: str, what: str) -> StoredMessage:
    for m in messages:
        if m.id == message_id:
            return m
    raise ApiError(404, "message_not_found", f"{what} {message_id} is not one of this "
                   f"conversation's last {READ_BACK} messages")


async def _answer(services: EdgeServices, principal: Principal, q: Question,
                  body: object, idempotency_key: str | None) -> MessageAccepted:
    event = q.event
    accepted = MessageAccepted(request_id=event.request_id, message_id=event.message_id,
                               conversation_id=event.conversation_id,
                               events_url=f"/v1/requests/{event.request_id}/events")

    async def publish() -> None:
        await submit(services, principal, event)
        await q.accepted(services)

    accepted, _ = await once(
        services, principal.tenant_id, idempotency_key,
        lambda: fingerprint("message", event.conversation_id, principal.user_id,
                            body.model_dump() if hasattr(body, "model_dump") else body),
        accepted, publish)
    return accepted


async def post_message(call: Call) -> None:
    raw = await call.json()  # the request's one parse; its schema is checked below
    services = call.services
    principal = await call.principal()
    cid = call.params["cid"]
    conversation = await own_conversation(services, principal, cid)
    body = call.valid(MessageCreate, raw)
    accept = call.header(b"accept")
    streamed = bool(accept and "text/event-stream" in accept)
    if streamed:  # refused before the message is published or counted, not after
        hold(call.scope, principal.tenant_id, principal.user_id)
    if body.parent_id and body.replaces:
        raise ApiError(422, "invalid_request", "send parent_id or replaces, not both")
    parent: str | None = None
    if body.parent_id or body.replaces:
        stored = await _stored(services, principal, cid)
        if body.replaces:
            replaced = _find(stored, body.replaces, "message")
            if replaced.role != "user":
                raise ApiError(422, "not_a_question", "only a question is edited; an "
                               "answer is regenerated")
            parent = parents(stored)[replaced.id] or ""
        else:
            parent = _find(stored, body.parent_id or "", "message").id
    q = await question(services, principal, conversation, Asked(
        text=body.text, model=body.model, options=body.options, web_search=body.web_search,
        assistant=body.assistant, variables=body.variables, memory=body.memory),
        parent_id=parent)
    accepted = await _answer(services, principal, q, body, call.header(b"idempotency-key"))
    if not streamed:
        await call.respond(202, accepted.model_dump_json().encode())
        return
    stream = await open_stream(services, principal, accepted.request_id)
    # The client streams the answer it asked for: leaving cancels it (unless it said
    # X-Chatstream-On-Disconnect: continue, to read it again later).
    leave = canceller(call.header(b"x-chatstream-on-disconnect"), services, principal,
                      stream)
    await send_sse(call, frames(stream, NativeSse()),
                   [(b"x-request-id", stream.request_id.encode())], leave)


POST_MESSAGE = HotRoute("POST", "/v1/conversations/{cid}/messages", post_message)


@documented(router, POST_MESSAGE, status_code=202, response_model=MessageAccepted,
            responses={200: {"content": {"text/event-stream": {}}}})
def _post_message(
    cid: str, body: MessageCreate, principal: PrincipalDep,
    accept: Annotated[str | None, Header()] = None, idempotency_key: IdempotencyKey = None,
) -> None:
    """A question, after the conversation's newest message, after ``parent_id``, or as a
    new version of ``replaces`` (the old one and its answers stay, as another branch)."""


@router.post("/{cid}/messages/{mid}/regenerate", status_code=202,
             response_model=MessageAccepted)
async def regenerate(cid: str, mid: str, conversation: OwnConversation,
                     services: ServicesDep, principal: PrincipalDep,
                     body: Regenerate | None = None,
                     idempotency_key: IdempotencyKey = None) -> MessageAccepted:
    """Answer question ``mid`` (or the question answer ``mid`` replied to) again: a new
    answer beside the others, each one a version; its history is the branch before the
    question. The answer streams at ``events_url`` like any other."""
    body = body or Regenerate()
    stored = await _stored(services, principal, cid)
    target = _find(stored, mid, "message")
    parent = parents(stored)
    if target.role == "assistant":
        target = _find(stored, parent[target.id] or "", "question")
    q = await question(services, principal, conversation, Asked(
        text=target.text, model=body.model, options=body.options,
        web_search=body.web_search), message_id=target.id,
        parent_id=parent[target.id] or "", regenerate=True)
    return await _answer(services, principal, q, {"regenerate": mid, **body.model_dump()},
                         idempotency_key)


@router.get("/{cid}/export", response_class=Response, responses={200: {"content": {
    "text/markdown": {}, "application/json": {}}}})
async def export(cid: str, conversation: OwnConversation, services: ServicesDep,
                 principal: PrincipalDep,
                 format: Literal["markdown", "json"] = "markdown",
                 tip: Annotated[str | None, Query(max_length=100, description=(
                     "the last message of the branch to export; the newest by "
                     "default"))] = None) -> Response:
    """One branch of the conversation (from its first message to ``tip``) as a file:
    Markdown to read, or JSON with every field of each message."""
    stored = await _stored(services, principal, cid)
    end = _find(stored, tip, "message").id if tip else (stored[-1].id if stored else None)
    messages = branch(stored, end)
    parent = parents(stored)
    if format == "json":
        body, kind = export_json(conversation, [message_out(m, parent[m.id])
                                                for m in messages]), "application/json"
    else:
        body, kind = export_markdown(conversation, messages), "text/markdown; charset=utf-8"
    return Response(body, media_type=kind, headers={
        "Content-Disposition": f'attachment; filename="{filename(conversation, format)}"'})
