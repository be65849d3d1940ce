"""One Cassandra session per process, shared by every Cassandra store of a keyspace.

The conversation, account, document and idempotency stores each own their tables and
statements; the connections, the keyspace and the bridge from the sync driver to asyncio
(``execute_async`` callbacks) are here, once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
from collections.abc import Mapping, Sequence
from typing import Any, Self, cast
from urllib.parse import unquote

from cassandra import (
    ConsistencyLevel,
    CoordinationFailure,
    OperationTimedOut,
    Timeout,
    Unavailable,
    UnresolvableContactPoints,
)
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable
from cassandra.connection import ConnectionBusy, ConnectionException, DefaultEndPoint
from cassandra.policies import (
    DCAwareRoundRobinPolicy,
    ExponentialReconnectionPolicy,
    TokenAwarePolicy,
)
from cassandra.protocol import IsBootstrappingErrorMessage, OverloadedErrorMessage
from cassandra.query import BatchStatement, dict_factory

from kernel.errors import ConfigurationError, StoreUnavailable
from kernel.telemetry.metrics import STORE_STATEMENTS

__all__ = ("CassandraSession", "default_connection_class", "statement_kind")

DEFAULT_PORT = 9042
DEFAULT_REPLICATION: Mapping[str, str | int] = {
    "class": "SimpleStrategy", "replication_factor": 1,
}

# What "the store cannot be reached, retry later" looks like in the driver. Request
# validation errors (InvalidRequest, SyntaxException...) are bugs and pass through.
_UNREACHABLE: tuple[type[BaseException], ...] = (
    NoHostAvailable, OperationTimedOut, Unavailable, Timeout, CoordinationFailure,
    ConnectionException, ConnectionBusy, UnresolvableContactPoints,
    OverloadedErrorMessage, IsBootstrappingErrorMessage,
)

_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,47}")


class CassandraSession:
    """Connections to one keyspace; nothing connects before :meth:`start`."""

    def __init__(
        self,
        hosts: Sequence[tuple[str, int]],
        keyspace: str,
        *,
        replication: Mapping[str, str | int] = DEFAULT_REPLICATION,
        local_dc: str | None = None,
        username: str | None = None,
        password: str | None = None,
        consistency: int = ConsistencyLevel.LOCAL_QUORUM,
        connect_timeout: float = 5.0,
        request_timeout: float = 10.0,
        connection_class: type[Any] | None = None,
    ) -> None:
        if not hosts:
            raise ConfigurationError("cassandra store needs at least one host")
        if not _IDENTIFIER.fullmatch(keyspace):
            raise ConfigurationError(f"not a valid cassandra keyspace name: {keyspace!r}")
        self._hosts = tuple(hosts)
        self._keyspace = keyspace
        self._replication = dict(replication)
        self._local_dc = local_dc
        self._auth = (
            PlainTextAuthProvider(username=username, password=password or "")
            if username else None
        )
        self._consistency = consistency
        self._connect_timeout = connect_timeout
        self._request_timeout = request_timeout
        self._connection_class = connection_class
        self._cluster: Any = None
        self._session: Any = None

    @classmethod
    def from_url(cls, url: str, **options: Any) -> Self:
        """``cassandra://[user:password@]host[:port][,host2[:port]]/keyspace``."""
        scheme, sep, rest = url.partition("://")
        if scheme != "cassandra" or not sep:
            raise ConfigurationError(f"not a cassandra url: {url!r}")
        netloc, _, path = rest.partition("/")
        keyspace = path.split("?", 1)[0].strip("/")
        if not keyspace:
            raise ConfigurationError(f"cassandra url names no keyspace: {url!r}")
        userinfo, at, hostlist = netloc.rpartition("@")
        if at:
            user, _, password = userinfo.partition(":")
            options.setdefault("username", unquote(user))
            options.setdefault("password", unquote(password))
        hosts = [_parse_host(h, url) for h in hostlist.split(",") if h]
        return cls(hosts, keyspace, **options)

    @property
    def hosts(self) -> tuple[tuple[str, int], ...]:
        return self._hosts

    @property
    def keyspace(self) -> str:
        return self._keyspace

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Connect and create the keyspace; a no-op once started."""
        if self._session is not None:
            return
        try:
            self._cluster, self._session = await asyncio.to_thread(self._connect)
        except _UNREACHABLE as exc:
            raise StoreUnavailable(f"cassandra {self._where()}: {exc}") from exc

    def _connect(self) -> tuple[Any, Any]:
        policy = DCAwareRoundRobinPolicy(local_dc=self._local_dc)
        profile = ExecutionProfile(
            load_balancing_policy=TokenAwarePolicy(policy),
            consistency_level=self._consistency,
            serial_consistency_level=ConsistencyLevel.LOCAL_SERIAL,
            request_timeout=self._request_timeout,
            row_factory=dict_factory,
        )
        cluster = Cluster(
            contact_points=[DefaultEndPoint(host, port) for host, port in self._hosts],
            execution_profiles={EXEC_PROFILE_DEFAULT: profile},
            connection_class=self._connection_class or default_connection_class(),
            auth_provider=self._auth,
            connect_timeout=self._connect_timeout,
            # The driver's default backs off up to 10 minutes; after an outage the store
            # should be back within seconds of Cassandra.
            reconnection_policy=ExponentialReconnectionPolicy(0.5, 10.0),
            control_connection_timeout=self._connect_timeout,
        )
        try:
            session = cluster.connect()
            session.execute(
                f"CREATE KEYSPACE IF NOT EXISTS {self._keyspace} "
                f"WITH replication = {_cql_map(self._replication)}")
            session.set_keyspace(self._keyspace)
            return cluster, session
        except BaseException:
            cluster.shutdown()
            raise

    async def close(self) -> None:
        cluster, self._cluster, self._session = self._cluster, None, None
        if cluster is not None:
            await asyncio.to_thread(cluster.shutdown)

    async def ready(self) -> tuple[bool, str]:
        try:
            rows = await self.execute("SELECT release_version FROM system.local")
        except StoreUnavailable as exc:
            return False, str(exc)
        version = rows[0]["release_version"] if rows else "?"
        return True, f"cassandra {version} at {self._where()}/{self._keyspace}"

    # -- statements ------------------------------------------------------------------

    async def prepare(self, cql: str, *, idempotent: bool = True) -> Any:
        session = self._session
        if session is None:
            raise StoreUnavailable("cassandra store is not started")
        try:
            statement = await asyncio.to_thread(session.prepare, cql)
        except _UNREACHABLE as exc:
            raise StoreUnavailable(f"cassandra {self._where()}: {exc}") from exc
        statement.is_idempotent = idempotent
        # Every read is bounded by LIMIT or by a list of keys: one page is enough.
        statement.fetch_size = None
        return statement

    async def execute(self, statement: Any, params: Sequence[Any] | None = None,
                      ) -> list[dict[str, Any]]:
        session = self._session
        if session is None:
            raise StoreUnavailable("cassandra store is not started")
        loop = asyncio.get_running_loop()
        done: asyncio.Future[list[dict[str, Any]]] = loop.create_future()

        # Callbacks run on a driver thread; only the loop's thread may touch `done`.
        def on_rows(rows: Any) -> None:
            _call_soon(loop, _resolve, done, list(rows or ()))

        def on_error(exc: BaseException) -> None:
            _call_soon(loop, _reject, done, exc)

        STORE_STATEMENTS.labels(statement_kind(statement)).inc()
        try:
            session.execute_async(statement, params).add_callbacks(on_rows, on_error)
            return await done
        except _UNREACHABLE as exc:
            raise StoreUnavailable(f"cassandra {self._where()}: {exc}") from exc

    def _where(self) -> str:
        return ",".join(f"{host}:{port}" for host, port in self._hosts)


_VERB_TABLE = re.compile(
    r"^\s*(?:(INSERT)\s+INTO|(UPDATE)|(DELETE)\b.*?\bFROM|(SELECT)\b.*?\bFROM)\s+([\w.\"]+)",
    re.IGNORECASE | re.DOTALL)
_CONDITIONAL = re.compile(r"\bIF\s+(?:NOT\s+EXISTS|EXISTS|\w+\s*[=<>!])", re.IGNORECASE)


@functools.lru_cache(maxsize=512)
def _kind_of(cql: str) -> str:
    match = _VERB_TABLE.match(cql)
    if match is None:
        return cql.split(None, 1)[0].upper() if cql.strip() else "?"
    verb = next(g for g in match.groups()[:4] if g).upper()
    kind = f"{verb} {match.group(5).rsplit('.', 1)[-1].strip(chr(34))}"
    return f"{kind} +if" if verb != "SELECT" and _CONDITIONAL.search(cql) else kind


def statement_kind(statement: Any) -> str:
    """What a statement does, for counting: ``INSERT messages``, ``UPDATE usage +if`` (a
    conditional write, four round trips of Paxos), ``BATCH``."""
    if isinstance(statement, BatchStatement):
        return "BATCH"
    if isinstance(statement, str):
        return _kind_of(statement)
    prepared = getattr(statement, "prepared_statement", statement)
    return _kind_of(getattr(prepared, "query_string", "") or "")


def default_connection_class() -> type[Any]:
    """The driver reactor to use for any ``Cluster`` chatstream builds."""
    # libev when the driver was built with it; the asyncio reactor otherwise. Never the
    # asyncore default, which warns on 3.11 and is gone from 3.12.
    try:
        from cassandra.io.libevreactor import LibevConnection
    except ImportError:
        from cassandra.io.asyncioreactor import AsyncioConnection
        return cast(type[Any], AsyncioConnection)
    return cast(type[Any], LibevConnection)


def _parse_host(spec: str, url: str) -> tuple[str, int]:
    if spec.startswith("["):  # [::1]:9042
        host, _, port = spec[1:].partition("]")
        port = port.removeprefix(":")
    else:
        host, _, port = spec.partition(":")
    if not host:
        raise ConfigurationError(f"cassandra url has an empty host: {url!r}")
    try:
        return host, int(port) if port else DEFAULT_PORT
    except ValueError as exc:
        raise ConfigurationError(f"cassandra url has a bad port {port!r}: {url!r}") from exc


def _cql_map(options: Mapping[str, str | int]) -> str:
    def quote(value: object) -> str:
        return "'" + str(value).replace("'", "''") + "'"
    return "{" + ", ".join(f"{quote(k)}: {quote(v)}" for k, v in options.items()) + "}"


def _call_soon(loop: asyncio.AbstractEventLoop, fn: Any, *args: Any) -> None:
    with contextlib.suppress(RuntimeError):  # the loop closed while the request was out
        loop.call_soon_threadsafe(fn, *args)


def _resolve(future: asyncio.Future[list[dict[str, Any]]], rows: list[dict[str, Any]]) -> None:
    if not future.done():
        future.set_result(rows)


def _reject(future: asyncio.Future[list[dict[str, Any]]], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
