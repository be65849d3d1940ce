"""One assistant version applied to a request: its model, its options under the
request's, its tools beside the request's, its web search, and its template's variables
checked (strictly: a 400 names the first that does not fit).

The rendered instructions are not carried on the request: retrieval renders them from
its own view of assistants.v1 with the values checked here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from api.deps import Principal
from api.errors import ApiError
from api.services import EdgeServices
from kernel.templates import TemplateError, builtins, placeholders, resolve
from schemas.assistants import VariableValue, parse_ref
from schemas.events import AssistantRef, utcnow
from schemas.options import GenerationOptions
from stores.assistants.base import AssistantVersion, Pin

__all__ = ("Applied", "AssistantRefused", "Chosen", "apply_assistant", "find_version",
           "for_conversation", "spec_options")


class AssistantRefused(ApiError):
    """The request cannot use the assistant as asked; ``param`` names what."""

    def __init__(self, status: int, code: str, message: str, param: str | None = None
                 ) -> None:
        super().__init__(status, code, message, param=param)


@dataclass(frozen=True)
class Applied:
    assistant: AssistantRef
    model: str
    options: dict[str, Any]
    web_search: bool
    variables: dict[str, str]


def spec_options(version: AssistantVersion) -> dict[str, Any]:
    """The generation options the version fixes, in the pipeline's shape."""
    spec = version.spec
    out: dict[str, Any] = spec.sampling.model_dump(exclude_none=True)
    if "stop" in out:
        out["stop"] = list(out["stop"])
    if spec.tools:
        out["tools"] = [t.model_dump(exclude_none=True) for t in spec.tools]
    return out


def _merged(version: AssistantVersion, asked: Mapping[str, Any]) -> dict[str, Any]:
    merged = {**spec_options(version), **{k: v for k, v in asked.items() if k != "tools"}}
    tools = [*merged.get("tools", ()), *(asked.get("tools") or ())]
    names = [t["function"]["name"] for t in tools]
    for name in names:
        if names.count(name) > 1:
            raise AssistantRefused(400, "duplicate_tool", f"the assistant {version.name} "
                                   f"already has a tool named {name!r}", "tools")
    if tools:
        merged["tools"] = tools
    return merged


async def _who(services: EdgeServices, principal: Principal, template: str
               ) -> tuple[str, str]:
    """The caller's name and email, read only when the template shows them."""
    used = set(placeholders(template))
    if not used & {"user.name", "user.email"} or services.accounts is None:
        return principal.user_id, ""
    user = await services.accounts.get_user(principal.tenant_id, principal.user_id)
    email = user.email if user is not None else ""
    return (email.split("@", 1)[0] or principal.user_id), email


async def apply_assistant(services: EdgeServices, principal: Principal,
                          version: AssistantVersion, *, model: str | None,
                          options: Mapping[str, Any], variables: Mapping[str, VariableValue],
                          web_search: bool) -> Applied:
    spec = version.spec
    chosen = spec.model or services.settings.default_model
    if model is not None and model != chosen:
        raise AssistantRefused(422, "assistant_model", f"the assistant {version.name} "
                               f"answers with the model {chosen!r}; leave `model` out",
                               "model")
    entry = services.catalogue.get(chosen)
    if entry is None:
        raise AssistantRefused(422, "unknown_model", f"the assistant {version.name} uses "
                               f"the model {chosen!r}, which is not configured", "model")
    merged = _merged(version, options)
    try:
        checked = GenerationOptions.model_validate(merged)
    except ValidationError as exc:
        err = exc.errors()[0]
        param = ".".join(str(p) for p in err.get("loc", ())) or None
        raise AssistantRefused(400, "invalid_value", f"{param}: {err['msg']}", param) from None
    for name in checked.set_fields():
        if not entry.supports(name):
            raise AssistantRefused(422, "unsupported_parameter", f"the model {chosen!r} "
                                   f"does not support `{name}`", name)
    name, email = await _who(services, principal, spec.instructions)
    at = utcnow()
    try:
        values = resolve(spec.instructions, spec.variables, variables, builtins(
            user_id=principal.user_id, user_name=name, user_email=email,
            tenant_id=principal.tenant_id, at=at))
    except TemplateError as exc:
        raise AssistantRefused(400, exc.code, str(exc), f"variables.{exc.name}") from None
    return Applied(
        assistant=AssistantRef(name=version.name, version=version.version), model=chosen,
        options=checked.model_dump(exclude_none=True),
        web_search=web_search or (spec.web_search and bool(services.settings.web_search)),
        variables=values)


def _refused_name(value: str) -> AssistantRefused:
    return AssistantRefused(422, "invalid_assistant", f"{value!r} is not an assistant: a "
                            "name, optionally with @version (support-bot@3)", "assistant")


async def find_version(services: EdgeServices, tenant_id: str, value: str, *,
                       new_use: bool = True) -> AssistantVersion:
    """The version ``value`` names (``name`` or ``name@N``); 404 when the tenant has no
    such assistant or version. An archived assistant takes no new conversations."""
    assistants = services.assistants
    if assistants is None:
        raise AssistantRefused(404, "not_found", "assistants are not configured here")
    try:
        name, number = parse_ref(value)
    except ValueError:
        raise _refused_name(value) from None
    found = await assistants.registry.get(tenant_id, name, number)
    if found is None:
        what = f"{name}@{number}" if number else name
        raise AssistantRefused(404, "assistant_not_found", f"assistant {what} not found",
                               "assistant")
    if new_use and number is None and found.archived:
        raise AssistantRefused(409, "assistant_archived", f"the assistant {name} is "
                               "archived", "assistant")
    return found


@dataclass(frozen=True)
class Chosen:
    version: AssistantVersion
    # The conversation's first assistant: pinned once the message is accepted.
    new_pin: Pin | None = None

    async def accepted(self, services: EdgeServices) -> None:
        if self.new_pin is not None and services.assistants is not None:
            await services.assistants.set_pin(self.new_pin)


async def for_conversation(services: EdgeServices, principal: Principal, cid: str,
                           asked: str | None) -> Chosen | None:
    """The version a message of conversation ``cid`` is answered by: the one the
    conversation started with (its pin), or the one ``asked`` names, which becomes the
    pin. A conversation keeps its assistant: asking for another is a 409."""
    assistants = services.assistants
    if assistants is None:
        if asked:
            raise AssistantRefused(404, "not_found", "assistants are not configured here")
        return None
    pin = await assistants.pin_of(principal.tenant_id, cid)
    if pin is None:
        if not asked:
            return None
        found = await find_version(services, principal.tenant_id, asked)
        return Chosen(found, Pin(principal.tenant_id, cid, found.name, found.version))
    if asked:
        try:
            name, number = parse_ref(asked)
        except ValueError:
            raise _refused_name(asked) from None
        if name != pin.name or number not in (None, pin.version):
            raise AssistantRefused(409, "conversation_assistant", f"this conversation uses "
                                   f"{pin.name}@{pin.version}; change it with PUT "
                                   f"/v1/conversations/{cid}/assistant", "assistant")
    return Chosen(await find_version(services, principal.tenant_id,
                                     f"{pin.name}@{pin.version}", new_use=False))
