"""Assistants: a tenant's admins create, edit, archive, restore and roll them back; every
member lists and uses them. Every change publishes a new immutable version on
assistants.v1; a conversation keeps the version it started with until it is moved
(``PUT /v1/conversations/{cid}/assistant``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.assistants.service import Assistants
from api.assistants.use import AssistantRefused, find_version
from api.deps import AdminDep, OwnConversation, Principal, PrincipalDep, ServicesDep
from api.errors import ApiError
from api.services import EdgeServices
from kernel.templates import TemplateError, check_template
from schemas.assistants import (
    MAX_VERSION,
    AssistantCreate,
    AssistantDiff,
    AssistantList,
    AssistantOut,
    AssistantSpec,
    AssistantVersionList,
    ConversationAssistant,
    ConversationAssistantSet,
    FieldChange,
)
from schemas.events import utcnow
from stores.assistants.base import MAX_ASSISTANTS, AssistantVersion, Pin

__all__ = ("conversation_router", "router")

router = APIRouter(prefix="/v1/assistants", tags=["assistants"])
conversation_router = APIRouter(prefix="/v1/conversations", tags=["assistants"])

_PUBLISH_TRIES = 5

# A version number as a query parameter: 1 to what the stores hold.
Version = Annotated[int, Query(ge=1, le=MAX_VERSION)]


def _assistants(services: EdgeServices) -> Assistants:
    if services.assistants is None:
        raise ApiError(503, "unavailable", "assistants are not configured on this edge")
    return services.assistants


def _out(v: AssistantVersion, principal: Principal) -> AssistantOut:
    # Members use an assistant; its instructions are its admins' to read.
    spec = v.spec if principal.is_admin else v.spec.model_copy(update={"instructions": ""})
    return AssistantOut(name=v.name, version=v.version, archived=v.archived,
                        author_id=v.author_id, created_at=v.created_at, spec=spec)


def _refusal(exc: AssistantRefused) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message)


def _check(services: EdgeServices, spec: AssistantSpec) -> None:
    try:
        check_template(spec.instructions, spec.variables)
    except TemplateError as exc:
        raise ApiError(422, exc.code, str(exc)) from None
    if spec.model is not None and services.catalogue.get(spec.model) is None:
        raise ApiError(422, "unknown_model",
                       f"model {spec.model!r} is not configured; see GET /v1/models")
    if spec.web_search and not services.settings.web_search:
        raise ApiError(422, "web_search_unavailable",
                       "web_search: this deployment has no web search (WEB_SEARCH)")


async def _publish(services: EdgeServices, principal: Principal, name: str,
                   spec: AssistantSpec, *, archived: bool = False, base: int | None = None,
                   create: bool = False) -> AssistantVersion:
    """A new version after the newest; the number is retried when another admin's
    edit took it, unless the caller said which version it edited (``base``): then 409."""
    assistants = _assistants(services)
    for _ in range(_PUBLISH_TRIES):
        latest = await assistants.store.latest(principal.tenant_id, name)
        if create and latest is not None:
            raise ApiError(409, "assistant_exists", f"an assistant named {name} exists")
        if not create and latest is None:
            raise ApiError(404, "assistant_not_found", f"assistant {name} not found")
        number = latest.version + 1 if latest is not None else 1
        if base is not None and latest is not None and latest.version != base:
            raise ApiError(409, "version_conflict", f"{name} is at version "
                           f"{latest.version}, not {base}: reload and edit again")
        version = AssistantVersion(principal.tenant_id, name, number, archived,
                                   principal.user_id, utcnow(), spec)
        if await assistants.publish(version):
            return version
        if base is not None:
            raise ApiError(409, "version_conflict", f"{name} was changed meanwhile")
    raise ApiError(409, "version_conflict", f"{name} is being changed by others; retry")


async def _version(services: EdgeServices, principal: Principal, name: str,
                   version: int | None = None) -> AssistantVersion:
    ref = name if version is None else f"{name}@{version}"
    try:
        return await find_version(services, principal.tenant_id, ref, new_use=False)
    except AssistantRefused as exc:
        raise _refusal(exc) from None


@router.get("", response_model=AssistantList)
async def list_assistants(services: ServicesDep, principal: PrincipalDep,
                          archived: bool = False) -> AssistantList:
    """The newest version of each; ``?archived=true`` includes the archived ones."""
    found = await _assistants(services).store.list_latest(principal.tenant_id)
    return AssistantList(data=[_out(v, principal) for v in found
                               if archived or not v.archived])


@router.post("", status_code=201, response_model=AssistantOut)
async def create_assistant(body: AssistantCreate, services: ServicesDep,
                           principal: AdminDep) -> AssistantOut:
    spec = AssistantSpec.model_validate(body.model_dump(exclude={"name"}))
    _check(services, spec)
    existing = await _assistants(services).store.list_latest(principal.tenant_id)
    if len(existing) >= MAX_ASSISTANTS:
        raise ApiError(409, "too_many_assistants", f"a tenant has at most {MAX_ASSISTANTS} "
                       "assistants; archive and edit one instead")
    return _out(await _publish(services, principal, body.name, spec, create=True),
                principal)


@router.get("/{name}", response_model=AssistantOut)
async def get_assistant(name: str, services: ServicesDep, principal: PrincipalDep,
                        version: Version | None = None) -> AssistantOut:
    return _out(await _version(services, principal, name, version), principal)


@router.put("/{name}", response_model=AssistantOut)
async def edit_assistant(name: str, body: AssistantSpec, services: ServicesDep,
                         principal: AdminDep, base: Version | None = None) -> AssistantOut:
    """A new version with this definition. ``?base=N``: only if N is still the newest
    (409 otherwise), so an edit never silently overwrites another admin's."""
    _check(services, body)
    return _out(await _publish(services, principal, name, body, base=base), principal)


@router.post("/{name}/archive", response_model=AssistantOut)
async def archive_assistant(name: str, services: ServicesDep,
                            principal: AdminDep) -> AssistantOut:
    """A new version, archived: no new conversation starts with it; conversations that
    use it go on with their version."""
    latest = await _version(services, principal, name)
    return _out(await _publish(services, principal, name, latest.spec, archived=True),
                principal)


@router.post("/{name}/restore", response_model=AssistantOut)
async def restore_assistant(name: str, services: ServicesDep,
                            principal: AdminDep) -> AssistantOut:
    latest = await _version(services, principal, name)
    return _out(await _publish(services, principal, name, latest.spec), principal)


@router.post("/{name}/rollback", response_model=AssistantOut)
async def roll_back(name: str, body: ConversationAssistantSet, services: ServicesDep,
                    principal: AdminDep) -> AssistantOut:
    """A new version with the definition of ``version``: history is never rewritten."""
    if body.version is None:
        raise ApiError(422, "missing_version", "name the version to roll back to")
    old = await _version(services, principal, name, body.version)
    _check(services, old.spec)
    return _out(await _publish(services, principal, name, old.spec), principal)


@router.get("/{name}/versions", response_model=AssistantVersionList)
async def list_versions(name: str, services: ServicesDep, principal: PrincipalDep,
                        limit: int = 50) -> AssistantVersionList:
    found = await _assistants(services).store.versions(principal.tenant_id, name,
                                                        max(1, min(limit, 500)))
    if not found:
        raise ApiError(404, "assistant_not_found", f"assistant {name} not found")
    return AssistantVersionList(data=[_out(v, principal) for v in found])


@router.get("/{name}/diff", response_model=AssistantDiff)
async def compare_versions(name: str, base: Version, other: Version, services: ServicesDep,
                           principal: AdminDep) -> AssistantDiff:
    """What changed from version ``base`` to version ``other``, field by field."""
    a = await _version(services, principal, name, base)
    b = await _version(services, principal, name, other)
    before, after = a.spec.model_dump(mode="json"), b.spec.model_dump(mode="json")
    changes = [FieldChange(field=k, before=before[k], after=after[k])
               for k in before if before[k] != after[k]]
    if a.archived != b.archived:
        changes.append(FieldChange(field="archived", before=a.archived, after=b.archived))
    return AssistantDiff(name=name, base=base, other=other, changes=changes)


@conversation_router.get("/{cid}/assistant", response_model=ConversationAssistant)
async def conversation_assistant(cid: str, conversation: OwnConversation,
                                 services: ServicesDep,
                                 principal: PrincipalDep) -> ConversationAssistant:
    """The assistant version the conversation uses, and the newest one."""
    pin = await _assistants(services).pin_of(principal.tenant_id, cid)
    if pin is None:
        raise ApiError(404, "no_assistant", "this conversation has no assistant")
    latest = await _version(services, principal, pin.name)
    return ConversationAssistant(name=pin.name, version=pin.version, latest=latest.version)


@conversation_router.put("/{cid}/assistant", response_model=ConversationAssistant)
async def move_conversation(cid: str, body: ConversationAssistantSet,
                            conversation: OwnConversation, services: ServicesDep,
                            principal: PrincipalDep) -> ConversationAssistant:
    """Move the conversation to another version of its assistant (the newest when
    ``version`` is empty): an upgrade, or back to an older one."""
    assistants = _assistants(services)
    pin = await assistants.pin_of(principal.tenant_id, cid)
    if pin is None:
        raise ApiError(404, "no_assistant", "this conversation has no assistant")
    target = await _version(services, principal, pin.name, body.version)
    if body.version is None and target.archived:
        raise ApiError(409, "assistant_archived", f"the assistant {pin.name} is archived")
    await assistants.set_pin(Pin(principal.tenant_id, cid, pin.name, target.version))
    latest = await _version(services, principal, pin.name)
    return ConversationAssistant(name=pin.name, version=target.version,
                                 latest=latest.version)
