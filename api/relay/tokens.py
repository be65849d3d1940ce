"""The token relay: an edge reads only the token events of the answers it serves.

Each edge owns a reply partition of chat.tokens.v1 (``home``). A request it accepts names
that partition (``MessageReceived.reply_partition``) and inference produces the answer's
token events there, so the edge tails one partition and the records of answers nobody
here watches (another edge sharing the partition) are skipped by their request id header,
unparsed. An answer this edge did not start (a resume after a reconnect to another
replica, a cancel) is found on demand: its request is looked up in chat.requests.v1 from
the time in its id, then its events are read from its reply partition, from the request's
time on, by a reader that stops when the answer ends. No consumer group per request.

Memory is bounded: unfinished answers by age (a stream older than ``max_age_s`` ends
with an ``error``), finished ones for ``keep_s`` (a later resume reads the log again),
both by count and by the bytes of their frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

from api.relay.stream import RequestStream
from api.views.topicview import TopicView
from kernel.errors import PoisonEvent
from kernel.settings import Settings
from schemas.events import MessageReceived, time_of_id
from schemas.topics import REQUESTS, TOKENS
from streams.codec import decode, fields
from streams.runtime.base import Record, Runtime, request_of

__all__ = ("RelayLimits", "TokenRelay")

log = logging.getLogger(__name__)

# Clocks of edges and brokers differ a little: look this much before a request's id time.
_SKEW_MS = 5_000
# A request is in the log within this long of its id's time (minted, then published at
# once, retries included): a search for it reads no further.
_PUBLISHED_WITHIN_MS = 60_000
# Ids the log was searched for in vain, remembered so asking again costs no search.
_ABSENT_S = 60.0
_ABSENT_MAX = 10_000


# Answers read from the log on demand at once.
_MAX_SEEKS = 32


@dataclass(frozen=True)
class RelayLimits:
    """What the relay keeps and for how long (the RELAY_* settings say what each is)."""

    keep_s: float
    max_age_s: float
    max_streams: int
    max_bytes: int
    lookback_s: float

    @classmethod
    def of(cls, settings: Settings) -> RelayLimits:
        return cls(keep_s=settings.relay_keep_s, max_age_s=settings.relay_max_age_s,
                   max_streams=settings.relay_max_streams, max_bytes=settings.relay_max_bytes,
                   lookback_s=settings.relay_lookback_s)


class TokenRelay:
    def __init__(self, runtime: Runtime, *, edge_id: str, partition: int | None = None,
                 limits: RelayLimits | None = None) -> None:
        self._runtime = runtime
        self._edge_id = edge_id
        self._partition = partition
        self.limits = limits or RelayLimits.of(Settings.defaults())
        self.home = 0
        # Unfinished answers by arrival, finished ones by finishing time.
        self._live: OrderedDict[str, RequestStream] = OrderedDict()
        self._done: OrderedDict[str, RequestStream] = OrderedDict()
        # Request ids whose publish has not been acknowledged yet: read, not served.
        self._pending: set[str] = set()
        self._bytes = 0
        self._seeks: dict[str, asyncio.Task[None]] = {}
        self._seek_slots = asyncio.Semaphore(_MAX_SEEKS)
        self._absent: OrderedDict[str, float] = OrderedDict()
        self._view: TopicView | None = None

    async def start(self, timeout_s: float = 60.0) -> None:
        """Start tailing the home partition; returns once it is positioned, so a request
        the edge accepts afterwards cannot slip past the relay."""
        count = await self._runtime.partition_count(TOKENS)
        wanted = self._partition if self._partition is not None \
            else zlib.crc32(self._edge_id.encode())
        self.home = wanted % count
        self._view = TopicView(self._runtime, TOKENS, self._apply,
                               since_ms=int(time.time() * 1000), partitions=[self.home],
                               evict=self.evict, name="relay-tokens")
        await self._view.start(timeout_s)
        log.info("relay: edge %s reads partition %d of %s", self._edge_id, self.home,
                 TOKENS.name)

    async def stop(self) -> None:
        if self._view is not None:
            await self._view.stop()
        for task in list(self._seeks.values()):
            task.cancel()
        await asyncio.gather(*self._seeks.values(), return_exceptions=True)
        self._seeks.clear()

    # -- the answers this edge accepted ------------------------------------------------

    @contextlib.contextmanager
    def accepting(self, request: MessageReceived) -> Iterator[RequestStream]:
        """Watch ``request``'s answer while its publish is under way. The stream is served
        only once the publish succeeded; a failed publish leaves nothing behind."""
        rid = request.request_id
        stream = RequestStream(rid, request.tenant_id, request.user_id,
                               request.conversation_id)
        self._live[rid] = stream
        self._pending.add(rid)
        try:
            yield stream
        except BaseException:
            self._pending.discard(rid)
            self._drop(rid)
            raise
        self._pending.discard(rid)
        self.evict()

    def get(self, request_id: str) -> RequestStream | None:
        if request_id in self._pending:
            return None
        return self._live.get(request_id) or self._done.get(request_id)

    def _apply(self, record: Record) -> None:
        rid = request_of(record)
        if rid is None:
            return
        key = rid.decode(errors="replace")
        stream = self._live.get(key)
        if stream is None or key in self._seeks:
            # An answer another edge (or nobody) serves: never parsed here. Or one a
            # reader of its own is feeding (found on demand on this very partition).
            return
        self._add(stream, record)

    def _add(self, stream: RequestStream, record: Record) -> None:
        try:
            raw = fields(record.value)
        except PoisonEvent:
            log.warning("relay: skipping malformed token event at %s@%d:%d",
                        record.topic, record.partition, record.offset)
            return
        if raw.get("request_id") != stream.request_id:
            return
        before = stream.nbytes
        stream.add(raw)
        self._bytes += stream.nbytes - before
        if stream.finished:
            self._finished(stream)

    def _finished(self, stream: RequestStream) -> None:
        rid = stream.request_id
        if self._live.pop(rid, None) is not None:
            self._done[rid] = stream
        self.evict()

    def _drop(self, rid: str) -> None:
        stream = self._live.pop(rid, None) or self._done.pop(rid, None)
        if stream is not None:
            self._bytes -= stream.nbytes
        seek = self._seeks.pop(rid, None)
        if seek is not None:
            seek.cancel()

    def evict(self) -> None:
        """Let go of what a resume no longer needs from memory (it can read the log)."""
        now = time.monotonic()
        lim = self.limits
        while self._done:
            rid, oldest = next(iter(self._done.items()))
            over = len(self._live) + len(self._done) > lim.max_streams \
                or self._bytes > lim.max_bytes
            if not over and now - oldest.finished_at <= lim.keep_s:
                break
            self._drop(rid)
        while self._live:
            rid, oldest = next(iter(self._live.items()))
            over = len(self._live) > lim.max_streams or self._bytes > lim.max_bytes
            if not over and now - oldest.created_at <= lim.max_age_s:
                break
            if rid in self._pending:
                break  # its publish is being awaited right now
            # Readers still following it get an end instead of waiting forever.
            oldest.fail("relay_timeout" if not over else "relay_overloaded",
                        "the edge stopped following this answer; fetch it again later")
            self._drop(rid)

    # -- answers started elsewhere, found on demand --------------------------------------

    async def find(self, request_id: str) -> RequestStream | None:
        """The answer of ``request_id``: held here, or read from the log on demand (its
        events so far, then live until it ends). None when the log has no such request
        within the look-back."""
        found = self.get(request_id)
        if found is not None or request_id in self._pending:
            return found  # a pending one is this edge's own, not yet acknowledged
        since = time_of_id(request_id)
        now_ms = int(time.time() * 1000)
        if since is None or since < now_ms - self.limits.lookback_s * 1000 \
                or since > now_ms + _SKEW_MS:
            return None  # not an id this system minted lately: only the store can tell
        if self._absent.get(request_id, 0.0) > time.monotonic():
            return None  # searched for lately, in vain
        async with self._seek_slots:
            found = self.get(request_id)  # another reader may have found it meanwhile
            if found is not None:
                return found
            request = await self._find_request(request_id, since - _SKEW_MS)
            if request is None:
                self._remember_absent(request_id)
                return None
            found = self.get(request_id)
            if found is not None:
                return found
            stream = RequestStream(request_id, request.tenant_id, request.user_id,
                                   request.conversation_id)
            self._live[request_id] = stream
            partitions = None if request.reply_partition is None \
                else [request.reply_partition]
            ready = asyncio.Event()
            task = asyncio.create_task(self._seek(stream, since - _SKEW_MS, partitions,
                                                  ready), name=f"relay-seek-{request_id}")
            self._seeks[request_id] = task
            # Serve once what the log held at the start was read: the ids are then
            # those of every other reader, and a resume finds its place.
            waiter = asyncio.create_task(ready.wait())
            try:
                await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
            return stream

    def _remember_absent(self, request_id: str) -> None:
        self._absent[request_id] = time.monotonic() + _ABSENT_S
        self._absent.move_to_end(request_id)
        while len(self._absent) > _ABSENT_MAX:
            self._absent.popitem(last=False)

    async def _find_request(self, request_id: str, since_ms: int) -> MessageReceived | None:
        """The request, read from the log from ``since_ms`` on; the search stops once
        every partition is past the time by which it would have been published, so an
        unknown id costs a minute of requests at most, not the whole look-back."""
        wanted = request_id.encode()
        until = since_ms + 2 * _SKEW_MS + _PUBLISHED_WITHIN_MS
        partitions = await self._runtime.partition_count(REQUESTS)
        past: set[int] = set()
        async for record in self._runtime.scan(REQUESTS, since_ms):
            if record.timestamp_ms > until:
                past.add(record.partition)
                if len(past) >= partitions:
                    return None
                continue
            if request_of(record) != wanted:
                continue
            try:
                found: MessageReceived = decode(REQUESTS, record.value)
            except PoisonEvent:
                return None
            return found
        return None

    async def _seek(self, stream: RequestStream, since_ms: int, partitions: list[int] | None,
                    ready: asyncio.Event) -> None:
        wanted = stream.request_id.encode()
        read: dict[int, int] = {}  # partition -> the last offset of this answer read
        try:
            async for record in self._runtime.scan(TOKENS, since_ms, partitions):
                if request_of(record) == wanted:
                    read[record.partition] = record.offset
                    self._add(stream, record)
            ready.set()
            if stream.finished:
                return
            # The live tail starts a little before the scan ended, so nothing written in
            # between is missed; what the scan read already is skipped.
            async for record in self._runtime.tail(TOKENS, int(time.time() * 1000) - _SKEW_MS,
                                                   None, partitions):
                if request_of(record) == wanted \
                        and record.offset > read.get(record.partition, -1):
                    self._add(stream, record)
                    if stream.finished:
                        return
        finally:
            ready.set()
            self._seeks.pop(stream.request_id, None)
