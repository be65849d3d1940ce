"""Liveness and readiness."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import ServicesDep

__all__ = ("router",)

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(services: ServicesDep) -> JSONResponse:
    (log_ok, log_detail), (store_ok, store_detail) = await asyncio.gather(
        services.runtime.ready(), services.store.ready())
    checks = {
        "log": {"ok": log_ok, "detail": log_detail},
        "store": {"ok": store_ok, "detail": store_detail},
    }
    if services.vectors is not None:
        vectors_ok, vectors_detail = await services.vectors.ready()
        checks["vectors"] = {"ok": vectors_ok, "detail": vectors_detail}
    ok = all(bool(c["ok"]) for c in checks.values())
    return JSONResponse({"status": "ready" if ok else "unavailable", "checks": checks},
                        200 if ok else 503)
