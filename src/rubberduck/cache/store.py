"""The layered cache the data plane uses: a memory LRU in front of the persistent store (cache/sqlstore.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from rubberduck.cache.entry import CachedResponse
from rubberduck.cache.memory import MemoryLRU
from rubberduck.cache.protocol import CacheStore, EntryFilter, EntryId, EntryInfo

# The SQL store lives in cache/sqlstore.py: importing it here would load SQLAlchemy into every process.
__all__ = ["CacheStore", "EntryFilter", "EntryInfo", "LayeredCache"]

logger = logging.getLogger("rubberduck.cache")

# After the store fails a read, the data plane stops asking it for this long: with the database down a
# request must not wait out a connection timeout each time.
STORE_RETRY_SECONDS = 1.0
# Tells the other nodes to drop what they hold of a proxy's entries, and waits until they have.
PeerFence = Callable[[str, dict[str, Any]], Awaitable[bool]]


class _Writes:
    """One proxy's persistent writes in flight, and the clear (if any) that waits for them to land."""

    __slots__ = ("clearing", "count", "idle", "pending", "settled")

    def __init__(self) -> None:
        self.count = 0
        self.idle = asyncio.Event()
        self.idle.set()
        self.clearing: asyncio.Future[None] | None = None
        # Entries remembered in memory whose persistent write has not landed yet (it runs once the
        # request has ended, e.g. after a stream's tail): listings wait for them, clears do not.
        self.pending = 0
        self.settled = asyncio.Event()
        self.settled.set()


class LayeredCache:
    """The memory LRU answers most hits without touching the database; the store keeps everything.

    A clear wins over every write that began before it. Each proxy has a generation, which a clear moves
    on: a request takes the generation when its lookup misses and passes it to `remember` and `persist`,
    which drop the entry if a clear came in between. A persistent write already under way when the clear
    comes is let land first, then deleted with the rest; a write of the new generation waits for the clear.

    Hits are counted in memory (`touch`, no await) and written in batches by `flush_hits`, off the
    request path.

    With several nodes (`peers` set), a clear, delete or import first has every other node drop its
    memory copies (and let its writes under way land) through `fence_here`, then changes the store.
    """

    def __init__(self, memory: MemoryLRU, store: CacheStore) -> None:
        self.memory = memory
        self.store = store
        self._generations: dict[int, int] = {}
        self._writes: dict[int, _Writes] = {}
        self._hits: dict[EntryId, tuple[int, float]] = {}
        self._hits_lock = asyncio.Lock()  # one write of hit counts at a time
        self._hit_writer: asyncio.Task[None] | None = None
        self.peers: PeerFence | None = None
        self._peer_clears: dict[int, float] = {}  # proxy id -> until when another node is clearing it
        self._store_down_until = 0.0

    def generation(self, proxy_id: int) -> int:
        return self._generations.get(proxy_id, 0)

    def peek(self, proxy_id: int, key: str, occurrence: int = 1) -> CachedResponse | None:
        """The memory copy only: the hot path's lookup, with no await."""
        return self.memory.get((proxy_id, key, occurrence))

    async def get(self, proxy_id: int, key: str, occurrence: int = 1) -> CachedResponse | None:
        entry = self.memory.get((proxy_id, key, occurrence))
        if entry is not None:
            return entry
        generation = self.generation(proxy_id)
        if time.monotonic() < self._store_down_until:
            return None
        try:
            entry = await self.store.get(proxy_id, key, occurrence)
        except Exception as exc:  # the store is down: answer from memory or upstream until it is back
            self._store_down_until = time.monotonic() + STORE_RETRY_SECONDS
            logger.warning("cache store unavailable, serving without it: %s", type(exc).__name__)
            return None
        # Not read back past a clear, nor during one: the store may still hold what is being deleted.
        if entry is not None and self.generation(proxy_id) == generation and not self._clearing(proxy_id):
            self.memory.put((proxy_id, key, occurrence), entry)
        return entry

    def touch(self, proxy_id: int, entry: CachedResponse) -> None:
        """A hit: counted now, written with the next batch."""
        slot = (proxy_id, entry.key, entry.occurrence)
        count, _ = self._hits.get(slot, (0, 0.0))
        self._hits[slot] = (count + 1, time.time())

    async def flush_hits(self) -> None:
        async with self._hits_lock:
            hits, self._hits = self._hits, {}
            try:
                await self.store.add_hits(hits)
            except Exception:
                logger.exception("%d cache hit counts could not be written", len(hits))

    def start_hit_writer(self, interval: float) -> None:
        self._hit_writer = asyncio.create_task(self._write_hits_forever(interval))

    async def stop_hit_writer(self) -> None:
        """The periodic writer ends between two writes (never inside one); the hits since are written last."""
        if self._hit_writer is not None:
            async with self._hits_lock:
                self._hit_writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._hit_writer
            self._hit_writer = None
        await self.flush_hits()

    async def _write_hits_forever(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await self.flush_hits()

    def remember(self, proxy_id: int, entry: CachedResponse, generation: int) -> None:
        """Make the entry visible at once, before the persistent write completes.

        Each call must be followed by `persist(..., remembered=True)` for the same entry.
        """
        writes = self._writes.setdefault(proxy_id, _Writes())
        writes.pending += 1
        writes.settled.clear()
        if self.generation(proxy_id) == generation:
            self.memory.put((proxy_id, entry.key, entry.occurrence), entry)

    async def persist(
        self, proxy_id: int, entry: CachedResponse, generation: int, remembered: bool = False
    ) -> None:
        writes = self._writes.setdefault(proxy_id, _Writes())
        try:
            while writes.clearing is not None and self.generation(proxy_id) == generation:
                await asyncio.shield(writes.clearing)  # a newer request's write: after the clear
            if self.generation(proxy_id) != generation:
                return
            writes.count += 1
            writes.idle.clear()
            try:
                await self.store.put(proxy_id, entry)
            finally:
                writes.count -= 1
                if not writes.count:
                    writes.idle.set()
        finally:
            if remembered:
                writes.pending -= 1
                if not writes.pending:
                    writes.settled.set()

    async def settle(self, proxy_id: int, timeout: float = 5.0) -> None:
        """Wait (bounded) until every entry already answered from memory is in the store too, so a
        listing right after a request shows it."""
        writes = self._writes.get(proxy_id)
        if writes is not None and writes.pending:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):  # not wait_for: on 3.11 it can swallow a cancel
                    await writes.settled.wait()

    async def put(self, proxy_id: int, entry: CachedResponse) -> None:
        """An entry written from outside a request (an import): stored, and seen by the next lookup at once.

        The memory copy of the slot is dropped only once the store holds the new entry, so a lookup in
        between reads the old one or the new one, never a half of each; a clear under way goes first.
        """
        await self.persist(proxy_id, entry, self.generation(proxy_id))
        self.memory.discard_key(proxy_id, entry.key, entry.occurrence)
        await self._fence_peers("discard", proxy_id, key=entry.key, occurrence=entry.occurrence)

    async def clear(self, proxy_id: int, namespace: str | None = None) -> int:
        """Every entry of the proxy, or of one of its namespaces.

        Even a namespace's clear drops the proxy's writes still in flight: a recording of another
        namespace is then made again on its next miss, which is cheaper than tracking writes per namespace.
        """
        self._generations[proxy_id] = self.generation(proxy_id) + 1  # from here on no older write begins
        self.memory.clear_proxy(proxy_id, namespace)
        writes = self._writes.setdefault(proxy_id, _Writes())
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        writes.clearing = done
        try:
            await writes.idle.wait()  # the older writes under way land first, then go with the rest
            await self._fence_peers("clear", proxy_id, namespace=namespace)
            deleted = await self.store.clear(proxy_id, namespace)
            await self._fence_peers("cleared", proxy_id, namespace=namespace)
            return deleted
        finally:
            if writes.clearing is done:
                writes.clearing = None
            done.set_result(None)

    async def delete(self, proxy_id: int, key: str, occurrence: int | None = None) -> int:
        self.memory.discard_key(proxy_id, key, occurrence)
        await self._fence_peers("discard", proxy_id, key=key, occurrence=occurrence)
        return await self.store.delete(proxy_id, key, occurrence)

    def _clearing(self, proxy_id: int) -> bool:
        writes = self._writes.get(proxy_id)
        if writes is not None and writes.clearing is not None:
            return True
        until = self._peer_clears.get(proxy_id)
        return until is not None and time.monotonic() < until

    async def _fence_peers(self, kind: str, proxy_id: int, **payload: Any) -> None:
        if self.peers is not None:
            if not await self.peers(kind, {"proxy_id": proxy_id, **payload}):
                logger.warning("not every node confirmed the cache %s of proxy %s in time", kind, proxy_id)

    async def fence_here(self, kind: str, payload: dict[str, Any]) -> None:
        """Another node clears or changes entries: drop our copies, and for a clear, move the generation
        on and let our writes under way land first (the other node deletes them from the store next)."""
        proxy_id = int(payload["proxy_id"])
        if kind == "clear":
            self._peer_clears[proxy_id] = time.monotonic() + 10.0  # until "cleared" (or it gave up)
            self._generations[proxy_id] = self.generation(proxy_id) + 1
            self.memory.clear_proxy(proxy_id, payload.get("namespace"))
            writes = self._writes.get(proxy_id)
            if writes is not None:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(5.0):
                        await writes.idle.wait()
        elif kind == "cleared":
            self._peer_clears.pop(proxy_id, None)
        elif kind == "discard":
            self.memory.discard_key(proxy_id, str(payload["key"]), payload.get("occurrence"))

    async def count(self, proxy_id: int) -> int:
        await self.settle(proxy_id)
        return await self.store.count(proxy_id)

    async def page(
        self, proxy_id: int, where: EntryFilter, limit: int, after: tuple[datetime, str, int] | None
    ) -> list[EntryInfo]:
        await self.settle(proxy_id)
        await self.flush_hits()  # the counts shown include the hits of a moment ago
        return await self.store.page(proxy_id, where, limit, after)

    async def entry(self, proxy_id: int, key: str, occurrence: int = 1) -> CachedResponse | None:
        """One recording as stored (not through the memory copy, which has no hit counts)."""
        await self.settle(proxy_id)
        return await self.store.get(proxy_id, key, occurrence)

    async def recorded_occurrences(self, proxy_id: int, key: str) -> int:
        """For a replay miss's message: 0 when the store cannot say (it is down)."""
        try:
            return await self.store.recorded_occurrences(proxy_id, key)
        except Exception:
            return 0

    async def candidates(
        self, proxy_id: int, namespace: str, operation: str | None, limit: int = 200
    ) -> list[CachedResponse]:
        """For a replay miss's message: none when the store cannot say (it is down)."""
        try:
            return await self.store.candidates(proxy_id, namespace, operation, limit)
        except Exception:
            return []
