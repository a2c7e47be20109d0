"""The persistent cache store: one row per recorded answer (proxy, key, occurrence), SQLite or Postgres."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import defer

from rubberduck.cache.entry import CachedResponse, frame_chunks, unframe_chunks
from rubberduck.cache.protocol import CacheStore, EntryFilter, EntryId, EntryInfo
from rubberduck.db.database import Database
from rubberduck.db.models import CacheEntryRow

__all__ = ["CacheStore", "EntryFilter", "EntryId", "EntryInfo", "SqlCacheStore"]


def _time(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def _epoch(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _entry(row: CacheEntryRow, with_body: bool = True) -> CachedResponse:
    headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in row.headers]
    return CachedResponse(
        row.status,
        headers,
        unframe_chunks(row.body) if with_body else (),
        row.stream,
        key=row.key,
        namespace=row.namespace,
        occurrence=row.occurrence,
        operation=row.operation,
        model=row.model,
        request=row.request,
        ignored=tuple(row.ignored or ()),
        offsets=None if row.offsets is None else tuple(row.offsets),
        expires_at=_epoch(row.expires_at),
        created_at=_epoch(row.created_at) or 0.0,
    )


_REPLACED = (
    "namespace", "operation", "model", "status", "headers", "body", "stream", "size", "request", "ignored",
    "offsets", "created_at", "expires_at",
)  # fmt: skip


class SqlCacheStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def get(self, proxy_id: int, key: str, occurrence: int = 1) -> CachedResponse | None:
        async with self.database.session() as session:
            row = await session.get(CacheEntryRow, (proxy_id, key, occurrence))
        return None if row is None else _entry(row)

    async def put(self, proxy_id: int, entry: CachedResponse) -> None:
        """Insert, or replace a recording of the same request and occurrence (its hit count restarts)."""
        values: dict[str, Any] = {
            "proxy_id": proxy_id,
            "key": entry.key,
            "occurrence": entry.occurrence,
            "namespace": entry.namespace,
            "operation": entry.operation,
            "model": entry.model,
            "status": entry.status,
            "headers": [[n.decode("latin-1"), v.decode("latin-1")] for n, v in entry.headers],
            "body": frame_chunks(entry.chunks),
            "stream": entry.stream,
            "size": entry.size,
            "request": entry.request,
            "ignored": list(entry.ignored),
            "offsets": None if entry.offsets is None else list(entry.offsets),
            "created_at": _time(entry.created_at),
            "expires_at": _time(entry.expires_at),
            "hits": 0,
            "last_hit_at": None,
        }
        insert = pg_insert if self.database.dialect == "postgresql" else sqlite_insert
        statement = insert(CacheEntryRow).values(**values)
        replaced = {name: statement.excluded[name] for name in _REPLACED}
        statement = statement.on_conflict_do_update(
            index_elements=["proxy_id", "key", "occurrence"],
            set_={**replaced, "hits": 0, "last_hit_at": None},
        )
        async with self.database.session() as session:
            await session.execute(statement)
            await session.commit()

    async def clear(self, proxy_id: int, namespace: str | None = None) -> int:
        condition = CacheEntryRow.proxy_id == proxy_id
        if namespace is not None:
            condition = and_(condition, CacheEntryRow.namespace == namespace)
        return await self._delete(condition)

    async def delete(self, proxy_id: int, key: str, occurrence: int | None = None) -> int:
        condition = and_(CacheEntryRow.proxy_id == proxy_id, CacheEntryRow.key == key)
        if occurrence is not None:
            condition = and_(condition, CacheEntryRow.occurrence == occurrence)
        return await self._delete(condition)

    async def _delete(self, condition: ColumnElement[bool]) -> int:
        async with self.database.session() as session:
            result = await session.execute(delete(CacheEntryRow).where(condition))
            await session.commit()
        return int(getattr(result, "rowcount", 0) or 0)

    async def count(self, proxy_id: int) -> int:
        async with self.database.session() as session:
            total = await session.scalar(
                select(func.count()).select_from(CacheEntryRow).where(CacheEntryRow.proxy_id == proxy_id)
            )
        return int(total or 0)

    async def add_hits(self, hits: Mapping[EntryId, tuple[int, float]]) -> None:
        """Hit counts gathered in memory, written in one transaction (an entry gone since is skipped)."""
        if not hits:
            return
        async with self.database.session() as session:
            # In key order: two nodes updating overlapping entries then lock rows in the same order (no deadlock).
            for (proxy_id, key, occurrence), (count, last) in sorted(hits.items()):
                await session.execute(
                    update(CacheEntryRow)
                    .where(
                        CacheEntryRow.proxy_id == proxy_id,
                        CacheEntryRow.key == key,
                        CacheEntryRow.occurrence == occurrence,
                    )
                    .values(hits=CacheEntryRow.hits + count, last_hit_at=_time(last))
                )
            await session.commit()

    async def page(
        self, proxy_id: int, where: EntryFilter, limit: int, after: tuple[datetime, str, int] | None
    ) -> list[EntryInfo]:
        """Newest first; `after` is the (created_at, key, occurrence) of the last entry of the previous page."""
        row = CacheEntryRow
        query = select(row).options(defer(row.body)).where(row.proxy_id == proxy_id)
        if where.namespace is not None:
            query = query.where(row.namespace == where.namespace)
        if where.operation is not None:
            query = query.where(row.operation == where.operation)
        if where.model is not None:
            query = query.where(row.model == where.model)
        if where.unused_since is not None:
            since = where.unused_since
            query = query.where(
                row.created_at < since, or_(row.last_hit_at.is_(None), row.last_hit_at < since)
            )
        if after is not None:
            created, key, occurrence = after
            query = query.where(
                or_(
                    row.created_at < created,
                    and_(row.created_at == created, row.key > key),
                    and_(row.created_at == created, row.key == key, row.occurrence > occurrence),
                )
            )
        query = query.order_by(row.created_at.desc(), row.key, row.occurrence).limit(limit)
        async with self.database.session() as session:
            rows = (await session.scalars(query)).all()
        return [
            EntryInfo(
                r.key,
                r.namespace,
                r.occurrence,
                r.operation,
                r.model,
                r.stream,
                r.status,
                r.size,
                r.created_at,
                r.hits,
                r.last_hit_at,
                r.expires_at,
                list(r.ignored or ()),
            )
            for r in rows
        ]

    async def recorded_occurrences(self, proxy_id: int, key: str) -> int:
        async with self.database.session() as session:
            highest = await session.scalar(
                select(func.max(CacheEntryRow.occurrence)).where(
                    CacheEntryRow.proxy_id == proxy_id, CacheEntryRow.key == key
                )
            )
        return int(highest or 0)

    async def candidates(
        self, proxy_id: int, namespace: str, operation: str | None, limit: int
    ) -> list[CachedResponse]:
        """The newest recordings of one namespace and operation, without their bodies: to find the nearest."""
        row = CacheEntryRow
        query = (
            select(row).options(defer(row.body)).where(row.proxy_id == proxy_id, row.namespace == namespace)
        )
        query = query.where(row.operation.is_(None) if operation is None else row.operation == operation)
        query = query.order_by(row.created_at.desc()).limit(limit)
        async with self.database.session() as session:
            rows = (await session.scalars(query)).all()
        return [_entry(r, with_body=False) for r in rows]
