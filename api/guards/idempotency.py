"""``Idempotency-Key`` on POST routes: a repeated key returns the first result."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel

from api.errors import ApiError
from api.services import EdgeServices
from kernel.errors import LogUnavailable

__all__ = ("fingerprint", "once")

M = TypeVar("M", bound=BaseModel)
MAX_KEY = 255


def fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


async def once(services: EdgeServices, tenant_id: str, key: str | None,
               fp: Callable[[], str], result: M, act: Callable[[], Awaitable[object]],
               ) -> tuple[M, bool]:
    """Claim ``key`` with ``result`` and run ``act``; if the key was claimed before,
    return that first result instead (``True`` as second value: it is a repeat).
    ``fp`` gives the request's fingerprint, computed only when there is a key.

    The claim comes first so two concurrent repeats cannot both act; an ``act`` that
    failed before anything reached the log releases it so the client's retry can go
    through."""
    if key is None:
        await act()
        return result, False
    if not key or len(key) > MAX_KEY:
        raise ApiError(400, "invalid_idempotency_key",
                       f"Idempotency-Key must be 1 to {MAX_KEY} characters")
    digest = fp()
    earlier = await services.idempotency.claim(tenant_id, key, digest,
                                               result.model_dump_json())
    if earlier is not None:
        if earlier.fingerprint != digest:
            raise ApiError(409, "idempotency_key_reused",
                           "this Idempotency-Key was used with a different request")
        return type(result).model_validate_json(earlier.response), True
    try:
        await act()
    except LogUnavailable as exc:
        # Handed to the log without an acknowledgement: the record may be there, and a
        # released key would let the client's retry publish the question a second time.
        # Kept, the retry gets this first result and follows that request.
        if not exc.maybe_written:
            await services.idempotency.release(tenant_id, key)
        raise
    except asyncio.CancelledError:
        raise  # cancelled anywhere up to the acknowledgement: kept, for the same reason
    except BaseException:
        await services.idempotency.release(tenant_id, key)
        raise
    return result, False
