"""Browsing and pruning a proxy's recordings (its cache entries), and rewinding its occurrence counters.

Clearing a proxy's cache (all of it or one namespace) stays with the proxy routes (`DELETE .../cache`).
As everywhere, another user's proxy, and so its entries, is a 404.
"""

from __future__ import annotations

import base64
import binascii
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from rubberduck.api.ownership import owned_proxy
from rubberduck.api.params import (
    MAX_OCCURRENCE,
    CacheKey,
    NamespaceFilter,
    Occurrence,
    OccurrenceFilter,
    ProxyId,
)
from rubberduck.api.recording_view import ResponseView, response_view
from rubberduck.api.recordings_zip import recordings_zip_router
from rubberduck.api.schemas import CacheCleared
from rubberduck.auth.users import Auth
from rubberduck.cache.entry import CachedResponse
from rubberduck.cache.occurrence import OccurrenceCounter
from rubberduck.cache.store import EntryFilter, EntryInfo, LayeredCache
from rubberduck.db.models import CacheEntryRow, User

MAX_PAGE = 500


class EntrySummary(BaseModel):
    key: str
    namespace: str  # "" is the default namespace
    occurrence: int
    operation: str | None
    model: str | None
    stream: bool
    status: int
    size: int
    created_at: datetime
    hits: int
    last_hit_at: datetime | None
    expires_at: datetime | None
    expired: bool  # as of this answer (`replay` mode still replays it; `record` mode records it again)
    ignored: list[str]  # the `ignore` paths left out of the key when it was recorded


class EntryPage(BaseModel):
    items: list[EntrySummary]
    next_cursor: str | None  # pass as `cursor` for the next page; null on the last one


class EntryDetail(EntrySummary):
    # The request the entry answered, as the key saw it (credentials never stored):
    # {"method", "path", "query": [[name, value], ...], "headers": {...}, "body": JSON as sent}.
    request: dict[str, Any] | None
    response: ResponseView


class Rewound(BaseModel):
    rewound: bool


Cursor = tuple[datetime, str, int]  # (created_at, key, occurrence) of the last entry shown


def encode_cursor(info: EntryInfo) -> str:
    raw = orjson.dumps([info.created_at.isoformat(), info.key, info.occurrence])
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(text: str) -> Cursor:
    """A cursor this API gave out; anything else is a 422."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        created, key, occurrence = orjson.loads(raw)
        moment = datetime.fromisoformat(created)
        valid = (
            moment.tzinfo is not None
            and isinstance(key, str)
            and len(key) <= 64
            and type(occurrence) is int
            and 1 <= occurrence <= MAX_OCCURRENCE
        )
    except (binascii.Error, orjson.JSONDecodeError, TypeError, ValueError):
        valid = False
    if not valid:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=[{"loc": ["query", "cursor"], "msg": "not a cursor of this list", "type": "value_error"}],
        )
    return moment.astimezone(UTC), key, occurrence


def _utc(moment: datetime | None) -> datetime | None:
    """Naive times are UTC; aware ones are converted (the store compares UTC times)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _expired(expires_at: datetime | None, now: float) -> bool:
    moment = _utc(expires_at)
    return moment is not None and moment.timestamp() <= now


def summary(info: EntryInfo, now: float) -> EntrySummary:
    return EntrySummary(
        key=info.key,
        namespace=info.namespace,
        occurrence=info.occurrence,
        operation=info.operation,
        model=info.model,
        stream=info.stream,
        status=info.status,
        size=info.size,
        created_at=info.created_at,
        hits=info.hits,
        last_hit_at=info.last_hit_at,
        expires_at=info.expires_at,
        expired=_expired(info.expires_at, now),
        ignored=list(info.ignored),
    )


def _epoch_time(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def detail(entry: CachedResponse, hits: int, last_hit_at: datetime | None, now: float) -> EntryDetail:
    return EntryDetail(
        key=entry.key,
        namespace=entry.namespace,
        occurrence=entry.occurrence,
        operation=entry.operation,
        model=entry.model,
        stream=entry.stream,
        status=entry.status,
        size=entry.size,
        created_at=datetime.fromtimestamp(entry.created_at, UTC),
        hits=hits,
        last_hit_at=_utc(last_hit_at),
        expires_at=_epoch_time(entry.expires_at),
        expired=entry.expired(now),
        ignored=list(entry.ignored),
        request=entry.request,
        response=response_view(entry),
    )


def recordings_router(auth: Auth, cache: LayeredCache, occurrences: OccurrenceCounter) -> APIRouter:
    router = APIRouter(prefix="/api/proxies/{proxy_id}/cache", tags=["recordings"])

    @router.get("", response_model=EntryPage)
    async def list_entries(
        proxy_id: ProxyId,
        namespace: NamespaceFilter = None,
        operation: Annotated[str | None, Query(max_length=100)] = None,
        model: Annotated[str | None, Query(max_length=200)] = None,
        unused_since: Annotated[
            datetime | None,
            Query(description="entries created before this time and not hit since (naive: UTC)"),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
        cursor: Annotated[str | None, Query(max_length=1000, description="next_cursor of a page")] = None,
        user: User = Depends(auth.current_user),
        session: AsyncSession = Depends(auth.get_session),
    ) -> EntryPage:
        proxy = await owned_proxy(proxy_id, user, session)
        after = None if cursor is None else decode_cursor(cursor)
        where = EntryFilter(namespace, operation, model, _utc(unused_since))
        found = await cache.page(proxy.id, where, limit + 1, after)
        now = time.time()
        items = [summary(info, now) for info in found[:limit]]
        next_cursor = encode_cursor(found[limit - 1]) if len(found) > limit else None
        return EntryPage(items=items, next_cursor=next_cursor)

    @router.get("/{key}", response_model=EntryDetail)
    async def get_entry(
        proxy_id: ProxyId,
        key: CacheKey,
        occurrence: Occurrence = 1,
        user: User = Depends(auth.current_user),
        session: AsyncSession = Depends(auth.get_session),
    ) -> EntryDetail:
        proxy = await owned_proxy(proxy_id, user, session)
        await cache.flush_hits()  # the counts shown include the hits of a moment ago
        entry = await cache.entry(proxy.id, key, occurrence)
        if entry is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Recording not found")
        row = CacheEntryRow
        counts = (
            await session.execute(
                select(row.hits, row.last_hit_at).where(
                    row.proxy_id == proxy.id, row.key == key, row.occurrence == occurrence
                )
            )
        ).first()
        hits, last_hit_at = (0, None) if counts is None else (counts[0], counts[1])
        return detail(entry, hits, last_hit_at, time.time())

    @router.delete("/{key}", response_model=CacheCleared)
    async def delete_entry(
        proxy_id: ProxyId,
        key: CacheKey,
        occurrence: OccurrenceFilter = None,
        user: User = Depends(auth.current_user),
        session: AsyncSession = Depends(auth.get_session),
    ) -> CacheCleared:
        proxy = await owned_proxy(proxy_id, user, session)
        return CacheCleared(deleted=await cache.delete(proxy.id, key, occurrence))

    @router.post("/rewind", response_model=Rewound)
    async def rewind(
        proxy_id: ProxyId,
        namespace: NamespaceFilter = None,
        user: User = Depends(auth.current_user),
        session: AsyncSession = Depends(auth.get_session),
    ) -> Rewound:
        """Occurrence counters start again (`repeats: sequence`): one namespace, or all of the proxy's."""
        proxy = await owned_proxy(proxy_id, user, session)
        await occurrences.rewind(proxy.id, namespace)
        return Rewound(rewound=True)

    both = APIRouter()
    both.include_router(router)
    both.include_router(recordings_zip_router(auth, cache))
    return both
