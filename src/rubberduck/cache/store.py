"""The layered cache the data plane uses: a memory LRU in front of the persistent store (cache/sqlstore.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import datetime

from rubberduck.cache.entry import CachedResponse
from rubberduck.cache.memory import MemoryLRU
from rubberduck.cache.protocol import CacheStore, EntryFilter, EntryId, EntryInfo

# The SQL store lives in cache/sqlstore.py: importing it here would load SQLAlchemy into every process.
__all__ = ["CacheStore", "EntryFilter", "EntryInfo", "LayeredCache"]

logger = logging.getLogger("rubberduck.cache")


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
    """

    def __init__(self, memory: MemoryLRU, store: CacheStore) -> None:
        self.memory = memory
        self.store = store
        self._generations: dict[int, int] = {}
        self._writes: dict[int, _Writes] = {}
        self._hits: dict[EntryId, tuple[int, float]] = {}
        self._hits_lock = asyncio.Lock()  # one write of hit counts at a time
        self._hit_writer: asyncio.Task[None] | None = None

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
        entry = await self.store.get(proxy_id, key, occurrence)
        if entry is not None and self.generation(proxy_id) == generation:  # not read back past a clear
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
                await asyncio.wait_for(writes.settled.wait(), timeout)

    async def put(self, proxy_id: int, entry: CachedResponse) -> None:
        """An entry written from outside a request (an import): stored, and seen by the next lookup at once.

        The memory copy of the slot is dropped only once the store holds the new entry, so a lookup in
        between reads the old one or the new one, never a half of each; a clear under way goes first.
        """
        await self.persist(proxy_id, entry, self.generation(proxy_id))
        self.memory.discard_key(proxy_id, entry.key, entry.occurrence)

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
            return await self.store.clear(proxy_id, namespace)
        finally:
            if writes.clearing is done:
                writes.clearing = None
            done.set_result(None)

    async def delete(self, proxy_id: int, key: str, occurrence: int | None = None) -> int:
        self.memory.discard_key(proxy_id, key, occurrence)
        return await self.store.delete(proxy_id, key, occurrence)

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
        return await self.store.recorded_occurrences(proxy_id, key)

    async def candidates(
        self, proxy_id: int, namespace: str, operation: str | None, limit: int = 200
    ) -> list[CachedResponse]:
        return await self.store.candidates(proxy_id, namespace, operation, limit)
