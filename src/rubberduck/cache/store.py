"""Cache stores: the persistent SQL store, and the layered store the data plane uses."""

from __future__ import annotations

import asyncio
from typing import Protocol

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from rubberduck.cache.entry import CachedResponse, frame_chunks, unframe_chunks
from rubberduck.cache.memory import MemoryLRU
from rubberduck.db.database import Database
from rubberduck.db.models import CacheEntryRow


class CacheStore(Protocol):
    async def get(self, proxy_id: int, key: str) -> CachedResponse | None: ...
    async def put(self, proxy_id: int, key: str, entry: CachedResponse) -> None: ...
    async def clear(self, proxy_id: int) -> int: ...
    async def count(self, proxy_id: int) -> int: ...


class SqlCacheStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def get(self, proxy_id: int, key: str) -> CachedResponse | None:
        async with self.database.session() as session:
            row = await session.get(CacheEntryRow, (proxy_id, key))
        if row is None:
            return None
        headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in row.headers]
        return CachedResponse(row.status, headers, unframe_chunks(row.body), row.stream)

    async def put(self, proxy_id: int, key: str, entry: CachedResponse) -> None:
        values = {
            "proxy_id": proxy_id,
            "key": key,
            "status": entry.status,
            "headers": [[n.decode("latin-1"), v.decode("latin-1")] for n, v in entry.headers],
            "body": frame_chunks(entry.chunks),
            "stream": entry.stream,
            "size": entry.size,
        }
        insert = pg_insert if self.database.dialect == "postgresql" else sqlite_insert
        statement = insert(CacheEntryRow).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=["proxy_id", "key"],
            set_={name: statement.excluded[name] for name in ("status", "headers", "body", "stream", "size")},
        )
        async with self.database.session() as session:
            await session.execute(statement)
            await session.commit()

    async def clear(self, proxy_id: int) -> int:
        async with self.database.session() as session:
            result = await session.execute(delete(CacheEntryRow).where(CacheEntryRow.proxy_id == proxy_id))
            await session.commit()
        return int(getattr(result, "rowcount", 0) or 0)

    async def count(self, proxy_id: int) -> int:
        async with self.database.session() as session:
            total = await session.scalar(
                select(func.count()).select_from(CacheEntryRow).where(CacheEntryRow.proxy_id == proxy_id)
            )
        return int(total or 0)


class _Writes:
    """One proxy's persistent writes in flight, and the clear (if any) that waits for them to land."""

    __slots__ = ("clearing", "count", "idle")

    def __init__(self) -> None:
        self.count = 0
        self.idle = asyncio.Event()
        self.idle.set()
        self.clearing: asyncio.Future[None] | None = None


class LayeredCache:
    """The memory LRU answers most hits without touching the database; the store keeps everything.

    A clear wins over every write that began before it. Each proxy has a generation, which a clear moves
    on: a request takes the generation when its lookup misses and passes it to `remember` and `persist`,
    which drop the entry if a clear came in between. A persistent write already under way when the clear
    comes is let land first, then deleted with the rest; a write of the new generation waits for the clear.
    """

    def __init__(self, memory: MemoryLRU, store: CacheStore) -> None:
        self.memory = memory
        self.store = store
        self._generations: dict[int, int] = {}
        self._writes: dict[int, _Writes] = {}

    def generation(self, proxy_id: int) -> int:
        return self._generations.get(proxy_id, 0)

    def peek(self, proxy_id: int, key: str) -> CachedResponse | None:
        """The memory copy only: the hot path's lookup, with no await."""
        return self.memory.get((proxy_id, key))

    async def get(self, proxy_id: int, key: str) -> CachedResponse | None:
        entry = self.memory.get((proxy_id, key))
        if entry is not None:
            return entry
        generation = self.generation(proxy_id)
        entry = await self.store.get(proxy_id, key)
        if entry is not None and self.generation(proxy_id) == generation:  # not read back past a clear
            self.memory.put((proxy_id, key), entry)
        return entry

    def remember(self, proxy_id: int, key: str, entry: CachedResponse, generation: int) -> None:
        """Make the entry visible at once, before the persistent write completes."""
        if self.generation(proxy_id) == generation:
            self.memory.put((proxy_id, key), entry)

    async def persist(self, proxy_id: int, key: str, entry: CachedResponse, generation: int) -> None:
        writes = self._writes.setdefault(proxy_id, _Writes())
        while writes.clearing is not None and self.generation(proxy_id) == generation:
            await asyncio.shield(writes.clearing)  # a newer request's write: after the clear
        if self.generation(proxy_id) != generation:
            return
        writes.count += 1
        writes.idle.clear()
        try:
            await self.store.put(proxy_id, key, entry)
        finally:
            writes.count -= 1
            if not writes.count:
                writes.idle.set()

    async def clear(self, proxy_id: int) -> int:
        self._generations[proxy_id] = self.generation(proxy_id) + 1  # from here on no older write begins
        self.memory.clear_proxy(proxy_id)
        writes = self._writes.setdefault(proxy_id, _Writes())
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        writes.clearing = done
        try:
            await writes.idle.wait()  # the older writes under way land first, then go with the rest
            return await self.store.clear(proxy_id)
        finally:
            if writes.clearing is done:
                writes.clearing = None
            done.set_result(None)

    async def count(self, proxy_id: int) -> int:
        return await self.store.count(proxy_id)
