"""Cassandra conversation store: the production adapter of ``ConversationStore``.

Each read is served by one partition of a table shaped for it; tenant_id is in every
partition key. The sync driver is bridged to asyncio through ``execute_async`` callbacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast
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
from cassandra.query import BatchStatement, BatchType, dict_factory

from kernel.errors import ConfigurationError, StoreUnavailable
from stores.base import Conversation, StoredMessage, StoredSummary

__all__ = ("CassandraConversationStore", "default_connection_class")

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
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

# Times are bigint microseconds since the epoch, not `timestamp`: CQL timestamps keep
# milliseconds only, which would change created_at on the way back and could misorder
# two messages written within the same millisecond.
_TABLES = (
    """CREATE TABLE IF NOT EXISTS conversations (
        tenant_id text, conversation_id text, user_id text, title text, created_us bigint,
        PRIMARY KEY ((tenant_id, conversation_id)))""",
    """CREATE TABLE IF NOT EXISTS conversations_by_user (
        tenant_id text, user_id text, created_us bigint, conversation_id text, title text,
        PRIMARY KEY ((tenant_id, user_id), created_us, conversation_id))
        WITH CLUSTERING ORDER BY (created_us DESC, conversation_id ASC)""",
    # Newest first, so "the last N" is a forward slice of the partition. At the same
    # instant 'assistant' < 'user' puts a reply after its question once reversed.
    """CREATE TABLE IF NOT EXISTS messages_by_conversation (
        tenant_id text, conversation_id text, created_us bigint, role text, message_id text,
        request_id text, user_id text, text text, model text, provider text,
        prompt_tokens int, completion_tokens int, finish_reason text, citations text,
        PRIMARY KEY ((tenant_id, conversation_id), created_us, role, message_id))
        WITH CLUSTERING ORDER BY (created_us DESC, role ASC, message_id DESC)""",
    """CREATE TABLE IF NOT EXISTS messages_by_request (
        tenant_id text, conversation_id text, request_id text, role text, message_id text,
        created_us bigint, user_id text, text text, model text, provider text,
        prompt_tokens int, completion_tokens int, finish_reason text, citations text,
        PRIMARY KEY ((tenant_id, request_id), role, message_id))""",
    """CREATE TABLE IF NOT EXISTS scores_by_conversation (
        tenant_id text, conversation_id text, message_id text, scores text,
        PRIMARY KEY ((tenant_id, conversation_id), message_id))""",
    """CREATE TABLE IF NOT EXISTS summaries_by_conversation (
        tenant_id text, conversation_id text, text text, through_message_id text,
        through_us bigint, updated_us bigint,
        PRIMARY KEY ((tenant_id, conversation_id)))""",
)

_DELETES = {
    "requests": "SELECT request_id FROM messages_by_conversation WHERE tenant_id = ? AND "
                "conversation_id = ?",
    "by_request": "DELETE FROM messages_by_request WHERE tenant_id = ? AND request_id = ?",
    "messages": "DELETE FROM messages_by_conversation WHERE tenant_id = ? AND "
                "conversation_id = ?",
    "scores": "DELETE FROM scores_by_conversation WHERE tenant_id = ? AND conversation_id = ?",
    "summary": "DELETE FROM summaries_by_conversation WHERE tenant_id = ? AND "
               "conversation_id = ?",
    "by_user": "DELETE FROM conversations_by_user WHERE tenant_id = ? AND user_id = ? AND "
               "created_us = ? AND conversation_id = ?",
    "conversation": "DELETE FROM conversations WHERE tenant_id = ? AND conversation_id = ?",
}

_MESSAGE_COLUMNS = (
    "tenant_id, conversation_id, created_us, role, message_id, request_id, user_id, text, "
    "model, provider, prompt_tokens, completion_tokens, finish_reason, citations"
)
_MESSAGE_MARKERS = ", ".join("?" * len(_MESSAGE_COLUMNS.split(",")))


@dataclass(frozen=True, slots=True)
class _Statements:
    insert_conversation: Any
    insert_conversation_by_user: Any
    select_conversation: Any
    select_conversations_by_user: Any
    insert_message: Any
    insert_message_by_request: Any
    select_messages: Any
    select_reply: Any
    upsert_scores: Any
    select_scores: Any
    upsert_summary: Any
    select_summary: Any

    @classmethod
    def prepare(cls, session: Any) -> _Statements:
        def prep(cql: str, *, idempotent: bool = True) -> Any:
            statement = session.prepare(cql)
            statement.is_idempotent = idempotent
            # Every read is bounded by LIMIT or by a list of keys: one page is enough.
            statement.fetch_size = None
            return statement

        return cls(
            # The only conditional write: "an existing conversation is left as it is".
            insert_conversation=prep(
                "INSERT INTO conversations (tenant_id, conversation_id, user_id, title, "
                "created_us) VALUES (?, ?, ?, ?, ?) IF NOT EXISTS", idempotent=False),
            insert_conversation_by_user=prep(
                "INSERT INTO conversations_by_user (tenant_id, user_id, created_us, "
                "conversation_id, title) VALUES (?, ?, ?, ?, ?)"),
            select_conversation=prep(
                "SELECT tenant_id, conversation_id, user_id, title, created_us "
                "FROM conversations WHERE tenant_id = ? AND conversation_id = ?"),
            select_conversations_by_user=prep(
                "SELECT tenant_id, conversation_id, user_id, title, created_us "
                "FROM conversations_by_user WHERE tenant_id = ? AND user_id = ? LIMIT ?"),
            # Idempotent without a condition: the whole key comes from the message, so
            # saving it again overwrites the row with the same values.
            insert_message=prep(
                f"INSERT INTO messages_by_conversation ({_MESSAGE_COLUMNS}) "
                f"VALUES ({_MESSAGE_MARKERS})"),
            insert_message_by_request=prep(
                f"INSERT INTO messages_by_request ({_MESSAGE_COLUMNS}) "
                f"VALUES ({_MESSAGE_MARKERS})"),
            select_messages=prep(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages_by_conversation "
                "WHERE tenant_id = ? AND conversation_id = ? LIMIT ?"),
            select_reply=prep(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages_by_request "
                "WHERE tenant_id = ? AND request_id = ? AND role = 'assistant' LIMIT 1"),
            upsert_scores=prep(
                "INSERT INTO scores_by_conversation (tenant_id, conversation_id, message_id, "
                "scores) VALUES (?, ?, ?, ?)"),
            select_scores=prep(
                "SELECT message_id, scores FROM scores_by_conversation "
                "WHERE tenant_id = ? AND conversation_id = ? AND message_id IN ?"),
            # The write timestamp is the summarised message's time, so the summary that
            # reaches furthest wins whatever order concurrent writes land in, with no
            # lightweight transaction. Nothing else writes this table.
            upsert_summary=prep(
                "INSERT INTO summaries_by_conversation (tenant_id, conversation_id, text, "
                "through_message_id, through_us, updated_us) VALUES (?, ?, ?, ?, ?, ?) "
                "USING TIMESTAMP ?"),
            select_summary=prep(
                "SELECT text, through_message_id, through_us, updated_us "
                "FROM summaries_by_conversation WHERE tenant_id = ? AND conversation_id = ?"),
        )


class CassandraConversationStore:
    """Satisfies ``ConversationStore``; nothing connects before :meth:`start`."""

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
        self._statements: _Statements | None = None
        self._deletes: dict[str, Any] = {}

    @classmethod
    def from_url(cls, url: str, **options: Any) -> CassandraConversationStore:
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
        if self._session is not None:
            return
        try:
            self._cluster, self._session, self._statements = await asyncio.to_thread(
                self._connect)
        except _UNREACHABLE as exc:
            raise StoreUnavailable(f"cassandra {self._where()}: {exc}") from exc

    def _connect(self) -> tuple[Any, Any, _Statements]:
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
            for ddl in _TABLES:
                session.execute(ddl)
            return cluster, session, _Statements.prepare(session)
        except BaseException:
            cluster.shutdown()
            raise

    async def close(self) -> None:
        cluster, self._cluster, self._session, self._statements = (
            self._cluster, None, None, None)
        if cluster is not None:
            await asyncio.to_thread(cluster.shutdown)

    async def ready(self) -> tuple[bool, str]:
        try:
            rows = await self._execute("SELECT release_version FROM system.local")
        except StoreUnavailable as exc:
            return False, str(exc)
        version = rows[0]["release_version"] if rows else "?"
        return True, f"cassandra {version} at {self._where()}/{self._keyspace}"

    # -- conversations ---------------------------------------------------------------

    async def create_conversation(self, conversation: Conversation) -> None:
        c, st = conversation, self._prepared()
        rows = await self._execute(st.insert_conversation, (
            c.tenant_id, c.id, c.user_id, c.title, _to_us(c.created_at)))
        # A lost race returns the row that won; indexing that row (again) also repairs
        # a previous attempt that failed between these two writes.
        row = rows[0] if rows and not rows[0]["[applied]"] else {
            "user_id": c.user_id, "title": c.title, "created_us": _to_us(c.created_at)}
        await self._execute(st.insert_conversation_by_user, (
            c.tenant_id, row["user_id"], row["created_us"], c.id, row["title"]))

    async def get_conversation(self, tenant_id: str, conversation_id: str) -> Conversation | None:
        rows = await self._execute(
            self._prepared().select_conversation, (tenant_id, conversation_id))
        return _conversation(rows[0]) if rows else None

    async def list_conversations(self, tenant_id: str, user_id: str,
                                 limit: int = 50) -> list[Conversation]:
        if limit <= 0:  # CQL rejects LIMIT 0
            return []
        rows = await self._execute(
            self._prepared().select_conversations_by_user, (tenant_id, user_id, limit))
        return [_conversation(r) for r in rows]

    async def delete_conversation(self, tenant_id: str, conversation_id: str) -> bool:
        found = await self._execute(self._prepared().select_conversation,
                                    (tenant_id, conversation_id))
        if not found:
            return False
        row, key = found[0], (tenant_id, conversation_id)
        if not self._deletes:
            for name, cql in _DELETES.items():
                self._deletes[name] = await self.prepare(cql)
        d = self._deletes
        requests = await self._execute(d["requests"], key)
        for request_id in {r["request_id"] for r in requests}:
            await self._execute(d["by_request"], (tenant_id, request_id))
        for name in ("messages", "scores", "summary"):
            await self._execute(d[name], key)
        await self._execute(d["by_user"], (tenant_id, row["user_id"], row["created_us"],
                                           conversation_id))
        await self._execute(d["conversation"], key)
        return True

    # -- messages --------------------------------------------------------------------

    async def save_message(self, message: StoredMessage) -> None:
        m, st = message, self._prepared()
        values = (
            m.tenant_id, m.conversation_id, _to_us(m.created_at), m.role, m.id, m.request_id,
            m.user_id, m.text, m.model, m.provider, m.prompt_tokens, m.completion_tokens,
            m.finish_reason, json.dumps(list(m.citations)),
        )
        # Logged: the two denormalised copies land together or (after a retry) not at all.
        batch = BatchStatement(batch_type=BatchType.LOGGED)
        batch.add(st.insert_message, values)
        batch.add(st.insert_message_by_request, values)
        batch.is_idempotent = True
        await self._execute(batch)

    async def save_scores(self, tenant_id: str, conversation_id: str, message_id: str,
                          scores: dict[str, Any]) -> None:
        await self._execute(self._prepared().upsert_scores, (
            tenant_id, conversation_id, message_id, json.dumps(scores)))

    async def list_messages(self, tenant_id: str, conversation_id: str,
                            limit: int = 100) -> list[StoredMessage]:
        if limit <= 0:
            return []
        rows = await self._execute(
            self._prepared().select_messages, (tenant_id, conversation_id, limit))
        rows.reverse()  # stored newest first; returned oldest first
        scores = await self._scores(tenant_id, conversation_id, [r["message_id"] for r in rows])
        return [_message(r, scores.get(r["message_id"])) for r in rows]

    async def get_reply(self, tenant_id: str, request_id: str) -> StoredMessage | None:
        rows = await self._execute(self._prepared().select_reply, (tenant_id, request_id))
        if not rows:
            return None
        row = rows[0]
        scores = await self._scores(tenant_id, row["conversation_id"], [row["message_id"]])
        return _message(row, scores.get(row["message_id"]))

    async def _scores(self, tenant_id: str, conversation_id: str,
                      message_ids: list[str]) -> dict[str, str]:
        if not message_ids:
            return {}
        rows = await self._execute(
            self._prepared().select_scores, (tenant_id, conversation_id, message_ids))
        return {r["message_id"]: r["scores"] for r in rows}

    # -- the session, shared -----------------------------------------------------------

    async def execute(self, statement: Any, params: Sequence[Any] | None = None,
                      ) -> list[dict[str, Any]]:
        """Run ``statement`` on this store's session: other stores in the same keyspace
        (documents) share its connections instead of opening their own."""
        return await self._execute(statement, params)

    async def prepare(self, cql: str, *, idempotent: bool = True) -> Any:
        session = self._session
        if session is None:
            raise StoreUnavailable("cassandra store is not started")
        try:
            statement = await asyncio.to_thread(session.prepare, cql)
        except _UNREACHABLE as exc:
            raise StoreUnavailable(f"cassandra {self._where()}: {exc}") from exc
        statement.is_idempotent = idempotent
        statement.fetch_size = None
        return statement
    # -- summaries -------------------------------------------------------------------

    async def get_summary(self, tenant_id: str, conversation_id: str) -> StoredSummary | None:
        rows = await self._execute(
            self._prepared().select_summary, (tenant_id, conversation_id))
        if not rows:
            return None
        r = rows[0]
        return StoredSummary(tenant_id, conversation_id, r["text"], r["through_message_id"],
                             _from_us(r["through_us"]), _from_us(r["updated_us"]))

    async def save_summary(self, summary: StoredSummary) -> None:
        s, through = summary, _to_us(summary.through_at)
        await self._execute(self._prepared().upsert_summary, (
            s.tenant_id, s.conversation_id, s.text, s.through_message_id, through,
            _to_us(s.updated_at), through))

    # -- driver bridge ---------------------------------------------------------------

    def _prepared(self) -> _Statements:
        if self._statements is None:
            raise StoreUnavailable("cassandra store is not started")
        return self._statements

    async def _execute(self, statement: Any, params: Sequence[Any] | None = None,
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

        try:
            session.execute_async(statement, params).add_callbacks(on_rows, on_error)
            return await done
        except _UNREACHABLE as exc:
            raise StoreUnavailable(f"cassandra {self._where()}: {exc}") from exc

    def _where(self) -> str:
        return ",".join(f"{host}:{port}" for host, port in self._hosts)


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


def _to_us(moment: datetime) -> int:
    if moment.tzinfo is None:  # naive times are taken to be UTC
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MICROSECOND


def _from_us(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def _conversation(row: dict[str, Any]) -> Conversation:
    return Conversation(
        tenant_id=row["tenant_id"], id=row["conversation_id"], user_id=row["user_id"],
        title=row["title"], created_at=_from_us(row["created_us"]),
    )


def _message(row: dict[str, Any], scores: str | None) -> StoredMessage:
    return StoredMessage(
        tenant_id=row["tenant_id"], conversation_id=row["conversation_id"],
        id=row["message_id"], request_id=row["request_id"], role=row["role"],
        text=row["text"], created_at=_from_us(row["created_us"]), user_id=row["user_id"],
        model=row["model"], provider=row["provider"],
        prompt_tokens=row["prompt_tokens"] or 0,
        completion_tokens=row["completion_tokens"] or 0,
        finish_reason=row["finish_reason"], citations=tuple(json.loads(row["citations"])),
        scores=json.loads(scores) if scores else None,
    )
