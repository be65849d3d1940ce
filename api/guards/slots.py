"""Open answer streams per user, capped on each edge replica: one user cannot hold every
connection (or every relay buffer) of an edge. Beyond the cap: 429 with Retry-After."""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import Scope

from api.errors import ApiError

__all__ = ("USER_KEY", "StreamSlots", "user_of")

# Where the edge notes, in the request's ASGI scope, whom the credential named: the
# boundary middleware reads it when a response turns out to be a stream.
USER_KEY = "chatstream.user"


def user_of(scope: Scope) -> tuple[str, str] | None:
    user = scope.get(USER_KEY)
    return user if isinstance(user, tuple) else None


class StreamSlots:
    def __init__(self, per_user: int) -> None:
        self._per_user = per_user
        self._open: dict[tuple[str, str], int] = {}

    def refusal(self) -> ApiError:
        return ApiError(429, "too_many_streams", f"at most {self._per_user} answers "
                        "streamed at once per user; close one first",
                        headers={"Retry-After": "5"})

    def check(self, tenant_id: str, user_id: str) -> None:
        """429 now if the user has no slot left (before work a stream would need)."""
        if self._open.get((tenant_id, user_id), 0) >= self._per_user:
            raise self.refusal()

    def take(self, tenant_id: str, user_id: str) -> Callable[[], None]:
        """A slot of the user's, or 429; the function returned gives it back (once)."""
        key = (tenant_id, user_id)
        self.check(tenant_id, user_id)
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

    def open(self, tenant_id: str, user_id: str) -> int:
        return self._open.get((tenant_id, user_id), 0)
