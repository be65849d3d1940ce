"""``POST /v1/chat/completions``: OpenAI's API served through the pipeline, so the
official ``openai`` client works unchanged. Errors are in OpenAI's shape."""

from __future__ import annotations

import orjson
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.asgi.call import Call, encode_headers
from api.asgi.route import HotRoute, documented
from api.asgi.sse import send_sse
from api.deps import PrincipalDep
from api.disconnect import ON_DISCONNECT, ClientGone, canceller, gone_response, until_disconnected
from api.openai_compat.accept import accept_chat
from api.openai_compat.completions import ChatChunks, Completion, collect
from api.openai_compat.errors import answer_error, openai_error
from api.openai_compat.opening import first_event, history_headers
from api.relay.events import Failed
from api.relay.render import frames
from schemas.completions import ChatCompletion, ChatCompletionRequest, OpenAIError

__all__ = ("CHAT_COMPLETIONS", "router")

router = APIRouter(prefix="/v1/chat", tags=["openai"])
_ON_DISCONNECT = ON_DISCONNECT.lower().encode()


async def chat_completions(call: Call) -> None:
    services = call.services
    principal = await call.principal()
    try:
        raw = orjson.loads(await call.body())  # the request's one parse
    except orjson.JSONDecodeError:  # in OpenAI's shape, not chatstream's 422
        await call.reply(openai_error(400, "the body is not valid JSON", code="invalid_json"))
        return
    started = await accept_chat(services, principal, raw, call.scope)
    if isinstance(started, JSONResponse):
        await call.reply(started)
        return
    body, event, stream = started
    completion = Completion(id=f"chatcmpl-{event.request_id}", model=event.model)
    headers = {"X-Request-Id": event.request_id, "X-Conversation-Id": event.conversation_id}
    leave = canceller(call.header(_ON_DISCONNECT), services, principal, stream)
    try:
        first = await until_disconnected(call.receive, first_event(stream), leave)
        if isinstance(first, Failed):
            await call.reply(answer_error(first, headers))
            return
        headers.update(history_headers(first))
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            await send_sse(call, frames(stream, ChatChunks(completion, include_usage)),
                           encode_headers(headers), leave)
            return
        response = await until_disconnected(call.receive, collect(stream, completion), leave)
    except ClientGone:
        await call.reply(gone_response())
        return
    response.headers.update(headers)
    await call.reply(response)


CHAT_COMPLETIONS = HotRoute("POST", "/v1/chat/completions", chat_completions)

# The body is read by the route itself (see below), so its schema is given here: OpenAI's
# request as chatstream reads it; docs/models.md says what is done with each field.
_REQUEST_SCHEMA = {
    **ChatCompletionRequest.model_json_schema(ref_template="#/components/schemas/{model}"),
    "description": "OpenAI's chat completion request; docs/models.md lists every field "
                   "and what chatstream does with it; a field it does not know is refused (400)."}


@documented(router, CHAT_COMPLETIONS, response_model=ChatCompletion,
            responses={200: {"content": {"text/event-stream": {}}},
                       400: {"model": OpenAIError}, 404: {"model": OpenAIError},
                       413: {"model": OpenAIError}},
            openapi_extra={"requestBody": {"required": True, "content": {
                "application/json": {"schema": _REQUEST_SCHEMA}}}})
def _chat_completions(principal: PrincipalDep) -> None:
    """The request's ``messages`` are the conversation: the last one (from the user) is
    answered with the earlier ones as its history. Each call opens a conversation of
    its own, stored like any other; ``X-Request-Id`` names the request, so
    ``POST /v1/requests/{id}/cancel`` can stop it. A client that disconnects cancels
    the answer, unless it sent ``X-Chatstream-On-Disconnect: continue``."""
