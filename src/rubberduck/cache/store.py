"""Cache stores: the persistent SQL store, and the layered store the data plane uses."""

from __future__ import annotations

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


class LayeredCache:
    """The memory LRU answers most hits without touching the database; the store keeps everything."""

    def __init__(self, memory: MemoryLRU, store: CacheStore) -> None:
        self.memory = memory
        self.store = store

    def peek(self, proxy_id: int, key: str) -> CachedResponse | None:
        """The memory copy only: the hot path's lookup, with no await."""
        return self.memory.get((proxy_id, key))

    async def get(self, proxy_id: int, key: str) -> CachedResponse | None:
        entry = self.memory.get((proxy_id, key))
        if entry is not None:
            return entry
        entry = await self.store.get(proxy_id, key)
        if entry is not None:
            self.memory.put((proxy_id, key), entry)
        return entry

    def remember(self, proxy_id: int, key: str, entry: CachedResponse) -> None:
        """Make the entry visible at once, before the persistent write completes."""
        self.memory.put((proxy_id, key), entry)

    async def persist(self, proxy_id: int, key: str, entry: CachedResponse) -> None:
        await self.store.put(proxy_id, key, entry)

    async def clear(self, proxy_id: int) -> int:
        self.memory.clear_proxy(proxy_id)
        return await self.store.clear(proxy_id)

    async def count(self, proxy_id: int) -> int:
        return await self.store.count(proxy_id)
