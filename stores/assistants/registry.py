"""Assistant versions in memory, fed by the compacted assistants.v1 topic.

The edge and the retrieval stage each keep one: the newest version of every assistant
they have read, and the older versions recently asked for (bounded), so a message finds
its assistant without a store read. A version the topic has not brought yet (a process
that just started, or a publish a moment ago on another edge) is read from the store
once and then kept.
"""

from __future__ import annotations

from collections import OrderedDict

from schemas.assistants import AssistantPublished
from stores.assistants.base import AssistantStore, AssistantVersion, version_of

__all__ = ("AssistantRegistry",)


class AssistantRegistry:
    def __init__(self, store: AssistantStore | None, max_older: int = 2_000) -> None:
        self._store = store
        self._max_older = max_older
        self._newest: dict[tuple[str, str], AssistantVersion] = {}
        self._older: OrderedDict[tuple[str, str, int], AssistantVersion] = OrderedDict()

    def __len__(self) -> int:
        return len(self._newest) + len(self._older)

    def apply(self, event: AssistantPublished) -> None:
        """One record of the topic (in any order: a compacted topic is read from its start
        with versions of one assistant interleaved by nothing but their offsets)."""
        self.put(version_of(event))

    async def on_event(self, event: AssistantPublished) -> None:
        """A stage's broadcast handler (see streams.runtime.base.Broadcast)."""
        self.apply(event)

    def put(self, version: AssistantVersion) -> None:
        key = (version.tenant_id, version.name)
        newest = self._newest.get(key)
        if newest is None or version.version > newest.version:
            self._newest[key] = version
            if newest is not None:
                self._keep_older(newest)
        elif version.version < newest.version:
            self._keep_older(version)

    def _keep_older(self, version: AssistantVersion) -> None:
        key = (version.tenant_id, version.name, version.version)
        self._older[key] = version
        self._older.move_to_end(key)
        while len(self._older) > self._max_older:
            self._older.popitem(last=False)

    def cached(self, tenant_id: str, name: str, version: int | None = None
               ) -> AssistantVersion | None:
        newest = self._newest.get((tenant_id, name))
        if version is None or (newest is not None and newest.version == version):
            return newest
        found = self._older.get((tenant_id, name, version))
        if found is not None:
            self._older.move_to_end((tenant_id, name, version))
        return found

    async def get(self, tenant_id: str, name: str, version: int | None = None
                  ) -> AssistantVersion | None:
        """The version asked for (the newest when None); from the store when not here."""
        found = self.cached(tenant_id, name, version)
        if found is not None or self._store is None:
            return found
        if version is None:
            found = await self._store.latest(tenant_id, name)
        else:
            found = await self._store.get_version(tenant_id, name, version)
        if found is not None:
            self.put(found)
        return found
