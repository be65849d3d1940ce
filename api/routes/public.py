"""Read-only public links to shared conversations, limited per client IP."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.deps import ServicesDep
from api.errors import ApiError
from api.guards.limits import check_ip, peer
from api.shapes import message_out
from schemas.http import MessageList
from stores.conversations.branches import branch

__all__ = ("router",)

router = APIRouter(prefix="/v1/public", tags=["public"])


@router.get("/conversations/{token}")
async def shared_conversation(token: str, request: Request,
                              services: ServicesDep) -> dict[str, object]:
    await check_ip(services, peer(services, request))
    share = await services.accounts.get_share(token) if services.accounts else None
    if share is None:
        raise ApiError(404, "not_found", "no conversation is shared at this link")
    conversation = await services.store.get_conversation(share.tenant_id,
                                                         share.conversation_id)
    if conversation is None:
        raise ApiError(404, "not_found", "no conversation is shared at this link")
    stored = await services.store.list_messages(share.tenant_id, share.conversation_id, 1000)
    # The newest branch: the conversation as its owner last left it.
    messages = branch(stored, stored[-1].id if stored else None)
    # No ids of the tenant or users: only what the conversation says.
    return {"title": conversation.title,
            "messages": MessageList(data=[message_out(m) for m in messages]).model_dump(
                mode="json", include={"data": {"__all__": {"role", "text", "created_at",
                                                           "citations"}}})["data"]}
