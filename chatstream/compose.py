"""The composition root: starts one process's parts in order (stores, its stages from
chatstream/workers.py, the edge's readers and server) and stops them in reverse."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar
from urllib.parse import urlparse

import uvicorn

from api.app import create_app
from api.assistants.service import Assistants
from api.guards.clients import networks
from api.guards.credentials import Credentials
from api.guards.sessions import Sessions
from api.memories import MemoryPolicy
from api.relay.tokens import RelayLimits, TokenRelay
from api.services import EdgeServices
from api.views.analytics import AnalyticsView
from api.views.batches import BatchView
from chatstream.backends import Backend
from chatstream.knowledge import Knowledge, build_knowledge
from chatstream.listener import TransportLimits, listen
from chatstream.local_models import (
    default_model_line,
    resolve_default_model,
    unavailable_models,
)
from chatstream.workers import stage_parts
from kernel.catalogue import load_catalogue
from kernel.errors import ConfigurationError
from kernel.settings import Settings
from kernel.telemetry import tracing
from kernel.telemetry.health import Checkable, readiness, worker_app
from schemas.catalogue import Catalogue
from schemas.stages import KNOWLEDGE_STAGES, STAGE_NAMES, analytics_name, role_name
from stores.accounts.base import AccountStore
from stores.accounts.leases import QuotaLeases
from stores.assistants.base import AssistantStore
from stores.assistants.registry import AssistantRegistry
from stores.memories.base import MemoryStore

__all__ = ("Running", "check_exposure", "deployment", "run")




def transport_limits(settings: Settings) -> TransportLimits:
    return TransportLimits(
        header_timeout_s=settings.header_timeout_s, body_timeout_s=settings.body_timeout_s,
        keep_alive_s=settings.keep_alive_timeout_s, max_header_bytes=settings.max_header_bytes,
        max_headers=settings.max_headers, max_connections=settings.max_connections,
        max_connections_per_address=settings.max_connections_per_address,
        trusted=networks(settings.trusted_proxies))


async def _listen(app: Any, settings: Settings, port: int,
                  role: str) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    return await listen(app, settings.host, port, role, transport_limits(settings))


async def _serve(app: Any, settings: Settings, port: int, role: str,
                 stop: asyncio.Event) -> None:
    server, task = await _listen(app, settings, port, role)
    await stop.wait()
    server.should_exit = True
    await task


def _edge_id(port: int) -> str:
    # Edges on one host differ by port (by process when the port is picked at random).
    return f"{socket.gethostname()}:{port or os.getpid()}"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name, "" or 0.0.0.0: reachable from elsewhere


def check_exposure(settings: Settings) -> None:
    """AUTH=dev serves anyone as any tenant: only on loopback, unless explicitly allowed."""
    if (settings.auth == "dev" and not _loopback(settings.host)
            and not settings.allow_insecure_dev_auth_on_network):
        raise ConfigurationError(
            f"AUTH=dev has no credentials and must not listen on {settings.host!r}: "
            "bind 127.0.0.1, use CHATSTREAM_AUTH=jwt, or (on a network you trust) set "
            "CHATSTREAM_ALLOW_INSECURE_DEV_AUTH_ON_NETWORK=true")


async def _edge_services(stack: contextlib.AsyncExitStack, settings: Settings,
                         backend: Backend, catalogue: Catalogue, knowledge: Knowledge | None,
                         accounts: AccountStore | None, assistant_store: AssistantStore,
                         breaker_states: Callable[[], Mapping[str, str]] | None,
                         ) -> EdgeServices:
    """The edge's readers of the log (relay, analytics, batch and assistant views) and
    stores."""
    runtime = backend.runtime
    relay = TokenRelay(
        runtime, edge_id=settings.edge_id or _edge_id(settings.port),
        partition=settings.relay_partition,
        limits=RelayLimits.of(settings))
    await relay.start()
    stack.push_async_callback(relay.stop)
    view = AnalyticsView(runtime, analytics_name(settings.analytics_group))
    await view.start()
    stack.push_async_callback(view.stop)
    batch_view = BatchView(runtime)
    await batch_view.start()
    stack.push_async_callback(batch_view.stop)
    idempotency = await _started(stack, backend.stores.idempotency())
    assistants = Assistants(assistant_store, runtime)
    await assistants.start()
    stack.push_async_callback(assistants.stop)
    leases = None if accounts is None else await _started(stack, QuotaLeases(
        accounts, lease_s=settings.quota_lease_s, max_block=settings.quota_lease_max))
    credentials = Credentials(settings) if accounts else None
    return EdgeServices(settings=settings, runtime=runtime, store=backend.stores.conversations,
                        catalogue=catalogue, relay=relay, idempotency=idempotency,
                        documents=knowledge.documents if knowledge else None,
                        vectors=knowledge.index if knowledge else None,
                        embedder=knowledge.embedder if knowledge else None,
                        accounts=accounts,
                        credentials=credentials, leases=leases,
                        sessions=Sessions(accounts, credentials, settings.session_check_s)
                        if accounts and credentials else None,
                        analytics=view, batches=batch_view,
                        breaker_states=breaker_states, assistants=assistants,
                        unavailable=unavailable_models(settings, catalogue))


@dataclass(frozen=True)
class Running:
    """What :func:`deployment` started: the edge's services, or the worker's checks."""

    backend: Backend
    services: EdgeServices | None
    checks: dict[str, Checkable]
    breaker_states: Callable[[], Mapping[str, str]] | None


@contextlib.asynccontextmanager
async def deployment(settings: Settings, *, edge: bool, stages: Sequence[str],
                     catalogue: Catalogue | None = None) -> AsyncIterator[Running]:
    """Start the parts of one process in order (stores, stages, the edge's views) and,
    on the way out, stop them in reverse: stop taking work, let in-flight work end,
    close clients."""
    catalogue = catalogue or load_catalogue(settings.models_file)
    settings = resolve_default_model(settings, catalogue)
    parts = stage_parts(settings, stages, catalogue)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(parts.aclose)
        backend = await stack.enter_async_context(
            Backend(settings, client_id="chatstream-edge" if edge else "chatstream"))
        store, stores = backend.stores.conversations, backend.stores
        accounts: AccountStore | None = None
        if settings.auth == "jwt" and (edge or "persistence" in stages):
            # Limits at the edge; tokens counted by persistence, once per answer.
            accounts = await _started(stack, stores.accounts())
        knowledge: Knowledge | None = None
        if edge or KNOWLEDGE_STAGES & set(stages):
            knowledge = build_knowledge(settings, stores.documents())
            await knowledge.start()
            stack.push_async_callback(knowledge.close)
        assistant_store: AssistantStore | None = None
        if edge or "retrieval" in stages:
            assistant_store = await _started(stack, stores.assistants())
        memories: MemoryStore | None = None
        if edge or "memory" in stages:
            memories = await _started(stack, stores.memories())
        await parts.start(settings, backend.runtime, stages, catalogue=catalogue, store=store,
                          knowledge=knowledge, accounts=accounts,
                          assistants=AssistantRegistry(assistant_store)
                          if assistant_store is not None else None, memories=memories)
        breaker_states = parts.breaker_states
        await stack.enter_async_context(backend.lag_reported(STAGE_NAMES))
        services: EdgeServices | None = None
        if edge:
            assert assistant_store is not None
            services = await _edge_services(stack, settings, backend, catalogue, knowledge,
                                            accounts, assistant_store, breaker_states)
            if memories is not None:
                services = replace(services, memories=MemoryPolicy(memories))
        checks: dict[str, Checkable] = {"log": backend.runtime, "store": store}
        if knowledge is not None:
            checks["vectors"] = knowledge.index
        print(f"chatstream: log={backend.describe_log()} "
              f"store={urlparse(settings.store_url).scheme} "
              f"stages={','.join(stages) or '-'}"
              f"{f' group={role_name(stages)}' if stages else ''}", flush=True)
        if knowledge is not None:
            print(f"chatstream: {knowledge.describe()}", flush=True)
        if edge:
            print(f"chatstream: {default_model_line(settings, catalogue)}", flush=True)
        # Runs first on the way out.
        stack.callback(print, "chatstream: shutting down", file=sys.stderr, flush=True)
        yield Running(backend, services, checks, breaker_states)


class _Closable(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...


_C = TypeVar("_C", bound=_Closable)


async def _started(stack: contextlib.AsyncExitStack, part: _C) -> _C:
    await part.start()
    stack.push_async_callback(part.close)
    return part


async def run(settings: Settings, *, edge: bool, stages: Sequence[str]) -> None:
    """Run the edge and/or stages until SIGINT or SIGTERM, then shut down in order."""
    if edge:
        check_exposure(settings)
    # A bad catalogue refuses to start before anything connects.
    catalogue = load_catalogue(settings.models_file)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tracing.setup_tracing(settings.trace_exporter,
                          "chatstream-edge" if edge else f"chatstream-{role_name(stages)}")
    try:
        async with deployment(settings, edge=edge, stages=stages,
                              catalogue=catalogue) as running:
            if running.services is not None:
                await _serve(create_app(running.services), settings, settings.port, "edge",
                             stop)
                return
            checks, breaker_states = running.checks, running.breaker_states

            async def ready() -> tuple[bool, dict[str, Any]]:
                return await readiness(checks, breaker_states)

            # /healthz, /readyz and /metrics of the workers of this process.
            app = worker_app(ready, settings.metrics_token.get_secret_value())
            server, served = await _listen(app, settings, settings.worker_port, "worker")
            print("chatstream workers running", flush=True)
            await stop.wait()
            server.should_exit = True
            await served
    finally:
        tracing.shutdown_tracing()
