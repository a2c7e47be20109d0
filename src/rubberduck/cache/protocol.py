"""The persistent cache store's interface and the types it speaks, with no backend imported.

The data plane (LayeredCache, the cache stage) and stores other than SQL (the recordings directory of the
headless proxy) depend on this module only, so a process that never opens a database never imports one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from rubberduck.cache.entry import CachedResponse

EntryId = tuple[int, str, int]  # (proxy id, key, occurrence)


@dataclass(frozen=True, slots=True)
class EntryInfo:
    """What a list of recordings shows of an entry (no body)."""

    key: str
    namespace: str
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
    ignored: list[str]


@dataclass(frozen=True, slots=True)
class EntryFilter:
    namespace: str | None = None
    operation: str | None = None
    model: str | None = None
    unused_since: datetime | None = None  # created before it and not hit since it


class CacheStore(Protocol):
    async def get(self, proxy_id: int, key: str, occurrence: int = 1) -> CachedResponse | None: ...
    async def put(self, proxy_id: int, entry: CachedResponse) -> None: ...
    async def clear(self, proxy_id: int, namespace: str | None = None) -> int: ...
    async def delete(self, proxy_id: int, key: str, occurrence: int | None = None) -> int: ...
    async def count(self, proxy_id: int) -> int: ...
    async def add_hits(self, hits: Mapping[EntryId, tuple[int, float]]) -> None: ...
    async def page(
        self, proxy_id: int, where: EntryFilter, limit: int, after: tuple[datetime, str, int] | None
    ) -> list[EntryInfo]: ...
    async def recorded_occurrences(self, proxy_id: int, key: str) -> int: ...
    async def candidates(
        self, proxy_id: int, namespace: str, operation: str | None, limit: int
    ) -> list[CachedResponse]: ...
