"""A user's long-term memory: see, add, edit and delete the facts kept about them, pause
memory; admins turn it off for the tenant. Every route is the caller's own: a memory of
another user (or tenant) does not exist for them (404).

Deleting a memory removes it from the vector index first, then from the store: a failure
in between leaves it listed, so the user sees it and deletes it again.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from api.deps import AdminDep, Principal, PrincipalDep, ServicesDep
from api.errors import ApiError
from api.memories import MemoryPolicy
from api.services import EdgeServices
from schemas.events import utcnow
from schemas.memories import MemoryIn, MemoryList, MemoryOut, MemorySwitch, TenantMemorySwitch
from stores.memories.base import MAX_MEMORIES, Memory, memory_chunk, memory_document

__all__ = ("router",)

router = APIRouter(prefix="/v1/memories", tags=["memory"])


def _policy(services: EdgeServices) -> MemoryPolicy:
    if services.memories is None:
        raise ApiError(503, "unavailable", "memory is not configured on this edge")
    return services.memories


def _out(m: Memory) -> MemoryOut:
    return MemoryOut(id=m.id, text=m.text, origin=m.origin, created_at=m.created_at,
                     updated_at=m.updated_at, source_conversation_id=m.source_conversation_id,
                     source_message_id=m.source_message_id)


async def _index(services: EdgeServices, memory: Memory) -> None:
    if services.embedder is None or services.vectors is None:
        raise ApiError(503, "unavailable", "the vector index is not configured on this edge")
    [vector] = await services.embedder.embed([memory.text], memory.tenant_id)
    await services.vectors.upsert([memory_chunk(memory, vector)])


async def _own(services: EdgeServices, principal: Principal, memory_id: str) -> Memory:
    found = await _policy(services).store.get(principal.tenant_id, principal.user_id,
                                              memory_id)
    if found is None:
        raise ApiError(404, "not_found", f"memory {memory_id} not found")
    return found


@router.get("", response_model=MemoryList)
async def list_memories(services: ServicesDep, principal: PrincipalDep) -> MemoryList:
    policy = _policy(services)
    found = await policy.store.list_memories(principal.tenant_id, principal.user_id)
    settings = await policy.store.settings(principal.tenant_id, principal.user_id)
    return MemoryList(data=[_out(m) for m in found], paused=settings.user_paused,
                      enabled=settings.tenant_enabled)


@router.post("", status_code=201, response_model=MemoryOut)
async def add_memory(body: MemoryIn, services: ServicesDep,
                     principal: PrincipalDep) -> MemoryOut:
    policy = _policy(services)
    settings = await policy.store.settings(principal.tenant_id, principal.user_id)
    if not settings.tenant_enabled:
        raise ApiError(403, "memory_off", "memory is off for this tenant")
    kept = await policy.store.list_memories(principal.tenant_id, principal.user_id)
    if len(kept) >= MAX_MEMORIES:
        raise ApiError(409, "too_many_memories", f"at most {MAX_MEMORIES} memories; "
                       "delete some first")
    now = utcnow()
    memory = Memory(tenant_id=principal.tenant_id, user_id=principal.user_id,
                    id=str(uuid.uuid4()), text=" ".join(body.text.split()), created_at=now,
                    updated_at=now, origin="user")
    await _index(services, memory)
    await policy.store.add(memory)
    return _out(memory)


@router.patch("/{memory_id}", response_model=MemoryOut)
async def edit_memory(memory_id: str, body: MemoryIn, services: ServicesDep,
                      principal: PrincipalDep) -> MemoryOut:
    found = await _own(services, principal, memory_id)
    now = utcnow()
    edited = Memory(found.tenant_id, found.user_id, found.id, " ".join(body.text.split()),
                    found.created_at, now, found.origin, found.source_conversation_id,
                    found.source_message_id)
    await _index(services, edited)
    if not await _policy(services).store.update(principal.tenant_id, principal.user_id,
                                                memory_id, edited.text, now):
        raise ApiError(404, "not_found", f"memory {memory_id} not found")
    return _out(edited)


@router.delete("/{memory_id}", status_code=204)
async def delete_memory(memory_id: str, services: ServicesDep,
                        principal: PrincipalDep) -> Response:
    await _own(services, principal, memory_id)
    if services.vectors is None:
        raise ApiError(503, "unavailable", "the vector index is not configured on this edge")
    await services.vectors.delete_document(principal.tenant_id, memory_document(memory_id))
    await _policy(services).store.delete(principal.tenant_id, principal.user_id, memory_id)
    return Response(status_code=204)


@router.put("/settings", response_model=MemorySwitch)
async def pause_memory(body: MemorySwitch, services: ServicesDep,
                       principal: PrincipalDep) -> MemorySwitch:
    """``{"paused": true}``: nothing is recalled into answers nor kept from them until
    unpaused; the memories stay (delete them to forget)."""
    policy = _policy(services)
    await policy.store.set_paused(principal.tenant_id, principal.user_id, body.paused)
    policy.forget(principal.tenant_id, principal.user_id)
    return body


@router.put("/tenant", response_model=TenantMemorySwitch)
async def tenant_memory(body: TenantMemorySwitch, services: ServicesDep,
                        principal: AdminDep) -> TenantMemorySwitch:
    """Owners and admins: ``{"enabled": false}`` turns memory off for every member (nothing
    recalled or kept; members still see and delete what was kept)."""
    policy = _policy(services)
    await policy.store.set_tenant_enabled(principal.tenant_id, body.enabled)
    policy.forget(principal.tenant_id)
    return body
