"""Open answer streams per user, capped on each edge replica: one user cannot hold every
connection (or every relay buffer) of an edge. Beyond the cap: 429 with Retry-After.

One policy for every streaming route. A route whose stream starts with publishing a
message (``POST …/messages`` with ``Accept: text/event-stream``, ``/v1/chat/completions``
and ``/v1/responses`` with ``stream: true``) takes the slot with :func:`hold` before it
publishes or counts anything, so a refused stream costs nothing; a route that only
reads a stream (``GET /v1/requests/{rid}/events``) gets one from the boundary when its
response turns out to be a stream. Either way the boundary gives it back when the
response ends, however it ends.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import Scope

from api.errors import ApiError

__all__ = ("SLOTS_KEY", "USER_KEY", "StreamSlots", "hold", "user_of")

# Where the edge notes, in the request's ASGI scope, whom the credential named: the
# boundary middleware reads it when a response turns out to be a stream.
USER_KEY = "chatstream.user"
# The edge's slots, put in the scope by the boundary, and the slot a request holds.
SLOTS_KEY = "chatstream.slots"
_HELD_KEY = "chatstream.slot"


def user_of(scope: Scope) -> tuple[str, str] | None:
    user = scope.get(USER_KEY)
    return user if isinstance(user, tuple) else None


def hold(scope: Scope, tenant_id: str, user_id: str) -> None:
    """Take the user's slot for the stream this request will answer with, now (429 if
    none is left): before the request publishes, generates or counts anything."""
    slots = scope.get(SLOTS_KEY)
    if isinstance(slots, StreamSlots):
        slots.hold(scope, tenant_id, user_id)


class StreamSlots:
    def __init__(self, per_user: int) -> None:
        self._per_user = per_user
        self._open: dict[tuple[str, str], int] = {}

    def refusal(self) -> ApiError:
        return ApiError(429, "too_many_streams", f"at most {self._per_user} answers "
                        "streamed at once per user; close one first",
                        headers={"Retry-After": "5"})

    def take(self, tenant_id: str, user_id: str) -> Callable[[], None]:
        """A slot of the user's, or 429, in one step (nothing awaited between the count
        and the taking); the function returned gives it back (once)."""
        key = (tenant_id, user_id)
        if self._open.get(key, 0) >= self._per_user:
            raise self.refusal()
        self._open[key] = self._open.get(key, 0) + 1
        given_back = False

        def give_back() -> None:
            nonlocal given_back
            if not given_back:
                given_back = True
                left = self._open[key] - 1
                if left:
                    self._open[key] = left
                else:
                    del self._open[key]

        return give_back

    def hold(self, scope: Scope, tenant_id: str, user_id: str) -> None:
        """Take a slot for the request of ``scope`` unless it holds one already."""
        if _HELD_KEY not in scope:
            scope[_HELD_KEY] = self.take(tenant_id, user_id)

    @staticmethod
    def holds(scope: Scope) -> bool:
        return _HELD_KEY in scope

    @staticmethod
    def release(scope: Scope) -> None:
        """Give back the slot the request of ``scope`` holds, if any."""
        give_back = scope.pop(_HELD_KEY, None)
        if give_back is not None:
            give_back()

    def open(self, tenant_id: str, user_id: str) -> int:
        return self._open.get((tenant_id, user_id), 0)
