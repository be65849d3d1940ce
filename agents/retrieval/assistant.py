"""The request's assistant, for retrieval: its version's instructions rendered with the
request's variables (checked at the edge), and the values a person typed, which reach
the system prompt (quoted as data) and are judged by the guard like the person's message.

The version comes from the stage's view of assistants.v1 (the store only on a miss), so
a message costs no store read for its assistant.
"""

from __future__ import annotations

from agents.deps import StageDeps
from kernel.errors import PoisonEvent
from kernel.templates import TemplateError, render
from schemas.events import MessageReceived
from stores.assistants.base import AssistantVersion

__all__ = ("assistant_of", "instructions_of", "typed_values")


async def assistant_of(request: MessageReceived, deps: StageDeps) -> AssistantVersion | None:
    ref = request.assistant
    if ref is None:
        return None
    found = await deps.assistants.get(request.tenant_id, ref.name, ref.version)
    if found is None:
        raise PoisonEvent(f"assistant {ref} of tenant {request.tenant_id} does not exist")
    return found


def instructions_of(request: MessageReceived, version: AssistantVersion) -> str | None:
    spec = version.spec
    try:
        text = render(spec.instructions, spec.variables, request.variables)
    except TemplateError as exc:
        raise PoisonEvent(f"assistant {request.assistant}: {exc}") from exc
    return text.strip() or None


def typed_values(request: MessageReceived, version: AssistantVersion) -> tuple[str, ...]:
    """The string values a person gave the template."""
    strings = {v.name for v in version.spec.variables if v.type == "string"}
    return tuple(value for name, value in request.variables.items()
                 if name in strings or name in ("user.name", "user.email"))
