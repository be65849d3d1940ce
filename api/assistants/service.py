"""Assistant versions at the edge: published through the store (which allots version
numbers) onto assistants.v1, read back from a view of that topic.

A conversation's assistant (its pin) is read from the store and remembered for a few
seconds, like the conversation's owner: every message of a conversation needs it.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from api.views.topicview import TopicView
from schemas.assistants import AssistantPublished
from schemas.topics import ASSISTANTS
from stores.assistants.base import AssistantStore, AssistantVersion, Pin
from stores.assistants.registry import AssistantRegistry
from streams.codec import decode
from streams.runtime.base import Record, Runtime

__all__ = ("Assistants", "assistant_key")

_NO_PIN = Pin("", "", "", 0)


def assistant_key(tenant_id: str, name: str, version: int) -> str:
    """The key of a version on assistants.v1: every version kept by compaction."""
    return f"{tenant_id}:{name}:{version}"


class Assistants:
    def __init__(self, store: AssistantStore, runtime: Runtime, *, pin_ttl_s: float = 5.0,
                 max_pins: int = 10_000) -> None:
        self.store = store
        self._runtime = runtime
        self.registry = AssistantRegistry(store)
        self._view = TopicView(runtime, ASSISTANTS, self._apply, name="view-assistants",
                               interactive=False)
        self._pins: OrderedDict[tuple[str, str], tuple[float, Pin]] = OrderedDict()
        self._pin_ttl_s = pin_ttl_s
        self._max_pins = max_pins

    async def start(self) -> None:
        await self._view.start()

    async def stop(self) -> None:
        await self._view.stop()

    def _apply(self, record: Record) -> None:
        event = decode(ASSISTANTS, record.value)
        if isinstance(event, AssistantPublished):
            self.registry.apply(event)

    async def publish(self, version: AssistantVersion) -> bool:
        """Store the version if its number is free, then announce it; ``False`` when
        another writer took the number first."""
        if not await self.store.add_version(version):
            return False
        await self._runtime.publisher.publish(
            ASSISTANTS, assistant_key(version.tenant_id, version.name, version.version),
            version.event())
        self.registry.put(version)  # this edge knows at once; the others by the topic
        return True

    async def pin_of(self, tenant_id: str, conversation_id: str) -> Pin | None:
        key = (tenant_id, conversation_id)
        found = self._pins.get(key)
        if found is not None and time.monotonic() - found[0] <= self._pin_ttl_s:
            return None if found[1] is _NO_PIN else found[1]
        pin = await self.store.get_pin(tenant_id, conversation_id)
        self._remember(key, pin or _NO_PIN)
        return pin

    async def set_pin(self, pin: Pin) -> None:
        await self.store.set_pin(pin)
        self._remember((pin.tenant_id, pin.conversation_id), pin)

    def _remember(self, key: tuple[str, str], pin: Pin) -> None:
        self._pins[key] = (time.monotonic(), pin)
        self._pins.move_to_end(key)
        while len(self._pins) > self._max_pins:
            self._pins.popitem(last=False)
