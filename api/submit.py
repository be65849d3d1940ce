"""One way a message enters the pipeline, shared by the conversation and the
OpenAI-compatible routes: counted against the plan, made known to the relay, published;
and one way its answer is stopped."""

from __future__ import annotations

from api.deps import Principal
from api.guards.limits import count
from api.relay.stream import RequestStream
from api.services import EdgeServices
from schemas.events import GUARD_MODES, CancelRequested, MessageReceived, conversation_key
from schemas.topics import CONTROL, REQUESTS

__all__ = ("GUARD_SETTING", "cancel", "submit")

GUARD_SETTING = "guard_mode"
"""The tenant setting that chooses its prompt guard mode (``PUT /v1/admin/guard``)."""


async def submit(services: EdgeServices, principal: Principal,
                 event: MessageReceived) -> RequestStream:
    """Publish ``event`` for ``principal`` and return the stream its answer will fill.

    Limits come first, so a refused message costs no log write. The tenant's prompt
    guard mode travels with the message (none chosen: the stage's GUARD_MODE). The
    request names this edge's reply partition, so its answer comes back to this edge's
    relay; the relay watches for it while the publish is under way and serves it once
    that succeeded (a failed publish leaves nothing behind)."""
    await count(services, principal, messages=1, web_searches=int(event.web_search))
    update: dict[str, object] = {"reply_partition": services.relay.home}
    if services.accounts is not None:
        mode = (await services.tenant_settings.of(services.accounts, event.tenant_id)).get(
            GUARD_SETTING)
        if mode in GUARD_MODES:
            update["guard_mode"] = mode
    event = event.model_copy(update=update)
    with services.relay.accepting(event) as stream:
        await services.runtime.publisher.publish(
            REQUESTS, conversation_key(event.tenant_id, event.conversation_id), event)
    return stream


async def cancel(services: EdgeServices, principal: Principal, request_id: str,
                 conversation_id: str) -> None:
    """Ask the inference worker generating ``request_id`` to stop (it closes the upstream
    request and ends the answer with finish reason ``cancelled``)."""
    await services.runtime.publisher.publish(
        CONTROL, conversation_key(principal.tenant_id, conversation_id),
        CancelRequested(tenant_id=principal.tenant_id, request_id=request_id,
                        conversation_id=conversation_id, user_id=principal.user_id))
