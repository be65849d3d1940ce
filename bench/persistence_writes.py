"""CPU per stored message on Cassandra: the persistence stage's writes as they are (no
lightweight transaction, two single-partition writes per message, writes to one
partition in flight together sent as one UNLOGGED batch) against the writes
before #16.3 (``INSERT ... IF NOT EXISTS`` for the conversation of every user message,
a LOGGED batch for the two copies of every message), in the same run.

Both write the same messages (a user question and its answer per turn, ``--turns`` per
conversation) at the same concurrency into a fresh keyspace of the real Cassandra; CPU is
read from /proc for this process (driver and stage code) and for Cassandra's JVM, and
divided by the messages stored. Rounds alternate between the two so load from anything
else on the machine falls on both alike.

    python -m bench.persistence_writes [--messages 2000] [--rounds 3] [--concurrency 16]
                                       [--turns 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from cassandra.query import BatchStatement, BatchType

from agents.persistence import KnownConversations, PersistenceDeps, handle
from bench.common import machine, table
from harness.cleanup import drop_keyspace
from harness.servers import CASSANDRA, require
from schemas.events import MessageReceived, ResponseCompleted, Usage, utcnow
from stores.cassandra import CassandraSession
from stores.conversations.base import ConversationStore, StoredMessage
from stores.conversations.cassandra import CassandraConversationStore


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cassandra_pid() -> int:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"CassandraDaemon" in cmdline:
                return int(entry.name)
    raise SystemExit("no Cassandra process found: `make services` starts it")


def _events(messages: int, turns: int) -> list[MessageReceived | ResponseCompleted]:
    out: list[MessageReceived | ResponseCompleted] = []
    cid = ""
    for n in range(messages // 2):
        if n % turns == 0:
            cid = f"bench-{uuid.uuid4().hex[:12]}"
        asked = MessageReceived(tenant_id="bench", request_id=uuid.uuid4().hex,
                                message_id=uuid.uuid4().hex, conversation_id=cid,
                                user_id="u1", text=f"question {n} about the roster",
                                model="local", occurred_at=utcnow() + timedelta(seconds=n))
        out.append(asked)
        out.append(ResponseCompleted(
            tenant_id="bench", request_id=asked.request_id, message_id=f"a-{asked.request_id}",
            conversation_id=cid, user_id="u1", reply_to=asked.message_id, prompt=asked.text,
            text=f"answer {n}: the roster is on the wall by the door", model="local",
            provider="local", usage=Usage(prompt_tokens=20, completion_tokens=12),
            finish_reason="stop", attempt="a1", duration_ms=5.0,
            requested_at=asked.occurred_at))
    return out


class _Before:
    """The write path before #16.3, with the same tables."""

    def __init__(self, db: CassandraSession) -> None:
        self.db = db
        self.st: dict[str, object] = {}

    async def start(self) -> None:
        cols = ("tenant_id, conversation_id, created_us, role, message_id, request_id, "
                "user_id, text, model, provider, prompt_tokens, completion_tokens, "
                "finish_reason, citations, tool_calls")
        marks = ", ".join("?" * 15)
        self.st = {
            "conversation": await self.db.prepare(
                "INSERT INTO conversations (tenant_id, conversation_id, user_id, title, "
                "created_us) VALUES (?, ?, ?, ?, ?) IF NOT EXISTS", idempotent=False),
            "by_user": await self.db.prepare(
                "INSERT INTO conversations_by_user (tenant_id, user_id, created_us, "
                "conversation_id, title) VALUES (?, ?, ?, ?, ?)"),
            "message": await self.db.prepare(
                f"INSERT INTO messages_by_conversation ({cols}) VALUES ({marks})"),
            "by_request": await self.db.prepare(
                f"INSERT INTO messages_by_request ({cols}) VALUES ({marks})"),
        }

    async def write(self, event: MessageReceived | ResponseCompleted) -> None:
        at = int(event.occurred_at.timestamp() * 1e6)
        if isinstance(event, MessageReceived):
            await self.db.execute(self.st["conversation"], (
                event.tenant_id, event.conversation_id, event.user_id, "t", at))
            await self.db.execute(self.st["by_user"], (
                event.tenant_id, event.user_id, at, event.conversation_id, "t"))
            m = StoredMessage(event.tenant_id, event.conversation_id, event.message_id,
                              event.request_id, "user", event.text, event.occurred_at,
                              event.user_id)
        else:
            m = StoredMessage(event.tenant_id, event.conversation_id, event.message_id,
                              event.request_id, "assistant", event.text, event.occurred_at,
                              event.user_id, model=event.model, provider=event.provider)
        values = (m.tenant_id, m.conversation_id, at, m.role, m.id, m.request_id, m.user_id,
                  m.text, m.model, m.provider, 0, 0, None, "[]", "[]")
        batch = BatchStatement(batch_type=BatchType.LOGGED)
        batch.add(self.st["message"], values)
        batch.add(self.st["by_request"], values)
        await self.db.execute(batch)


async def _drive(write: Callable[[MessageReceived | ResponseCompleted], Awaitable[None]],
                 events: list[MessageReceived | ResponseCompleted], concurrency: int) -> None:
    # ``concurrency`` events at a time in log order, as the stage's workers take them.
    slots = asyncio.Semaphore(concurrency)

    async def one(event: MessageReceived | ResponseCompleted) -> None:
        async with slots:
            await write(event)

    await asyncio.gather(*(one(e) for e in events))


async def run(messages: int, rounds: int, concurrency: int, turns: int
              ) -> list[list[object]]:
    require(CASSANDRA, "Cassandra")
    url = f"cassandra://{CASSANDRA}/bench_{uuid.uuid4().hex[:8]}"
    store = CassandraConversationStore(CassandraSession.from_url(url))
    await store.start()
    # The same tables and connections, each write on its own: what batching adds.
    unbatched = CassandraConversationStore(store.session, batch_writes=False)
    await unbatched.start()
    before = _Before(store.session)
    await before.start()

    def stage(adapter: ConversationStore) -> Callable[
            [MessageReceived | ResponseCompleted], Awaitable[None]]:
        deps = PersistenceDeps(adapter, None, KnownConversations())

        async def write(event: MessageReceived | ResponseCompleted) -> None:
            await handle(event, deps)
        return write

    variants = (("before", before.write), ("no LWT, no batch", stage(unbatched)),
                ("after", stage(store)))
    for _, write in variants:  # warm up every path
        await _drive(write, _events(200, turns), concurrency)
    jvm = _cassandra_pid()
    totals = {name: [0.0, 0.0, 0.0] for name, _ in variants}
    try:
        for _ in range(rounds):
            for name, write in variants:
                events = _events(messages, turns)
                py0, jvm0, t0 = time.process_time(), _cpu(jvm), time.perf_counter()
                await _drive(write, events, concurrency)
                totals[name][0] += time.process_time() - py0
                totals[name][1] += _cpu(jvm) - jvm0
                totals[name][2] += time.perf_counter() - t0
    finally:
        await store.close()
        drop_keyspace(url)
    stored = messages * rounds
    rows: list[list[object]] = []
    for name, (py, cas, wall) in totals.items():
        rows.append([name, stored, f"{py / stored * 1e3:.3f}", f"{cas / stored * 1e3:.3f}",
                     f"{(py + cas) / stored * 1e3:.3f}", f"{stored / wall:.0f}"])
    ratio = (sum(totals["after"][:2]) / sum(totals["before"][:2]))
    rows.append(["after / before", "", "", "", f"{ratio:.2f}", ""])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--turns", type=int, default=5,
                        help="questions (and answers) per conversation; many: a hot "
                             "partition, where writes in flight together are batched")
    args = parser.parse_args()
    rows = asyncio.run(run(args.messages, args.rounds, args.concurrency, args.turns))
    print(machine())
    print(table(["writes", "messages", "stage CPU ms/msg", "Cassandra CPU ms/msg",
                 "total CPU ms/msg", "msgs/s"], rows))
    print(json.dumps({"messages": args.messages, "rounds": args.rounds,
                      "concurrency": args.concurrency, "turns": args.turns}))


if __name__ == "__main__":
    main()
