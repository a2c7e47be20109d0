"""A directory of recording files as a cache store (the CacheStore protocol of cache/protocol.py).

Every file of the store's provider is read when the store is made; after that the memory copy answers and
the directory is only written: `put` writes the entry's file atomically, `clear` and `delete` remove files.
Files of other providers in the same directory are left alone (one directory may serve several proxies).
Hit counts live in memory only, with which entries were used and which were made this run, for a summary.

The store is for one proxy: the `proxy_id` arguments of the protocol are accepted and not looked at.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rubberduck.cache.entry import CachedResponse
from rubberduck.cache.protocol import CacheStore, EntryFilter, EntryId, EntryInfo
from rubberduck.recordings.files import (
    RecordingError,
    document_to_entry,
    dump_document,
    entry_to_document,
    key_problem,
    path_for,
    read_document,
    recording_files,
    write_atomic,
)

EntryRef = tuple[str, int]  # (key, occurrence): one recording of one proxy


@dataclass(frozen=True, slots=True)
class FileStoreStats:
    loaded: int  # recordings read from the directory at start
    used: frozenset[EntryRef]  # answered a request this run (a hit)
    created: frozenset[EntryRef]  # written this run (new, or replacing one)
    unused: tuple[CachedResponse, ...]  # loaded at start, still there, never used (bodies included)


def load_recordings(root: Path, provider: str) -> dict[EntryRef, tuple[CachedResponse, Path]]:
    """Every recording of `provider` under root; RecordingError naming the first bad file and why."""
    found: dict[EntryRef, tuple[CachedResponse, Path]] = {}
    try:
        paths = recording_files(root)
    except OSError as exc:
        raise RecordingError(f"{root}: {exc.strerror or exc}") from None
    for path in paths:
        try:
            document = read_document(path)
            if document.get("provider") != provider:
                continue
            entry = document_to_entry(document)
            problem = key_problem(entry)
        except (RecordingError, OSError) as exc:
            raise RecordingError(f"{path}: {exc}") from None
        if problem is not None:
            raise RecordingError(f"{path}: {problem}")
        ref = (entry.key, entry.occurrence)
        if ref in found:
            raise RecordingError(f"{path}: the same recording as {found[ref][1]}")
        found[ref] = (entry, path)
    return found


class FileCacheStore:
    def __init__(self, root: Path, provider: str) -> None:
        """Reads every file of `provider` under root: RecordingError for a bad one or an unreadable root.

        A root that does not exist yet is an empty store (made by the first `put`), so a first recording run
        needs no setup.
        """
        if root.exists() and not root.is_dir():
            raise RecordingError(f"{root}: not a directory")
        self.root = root
        self.provider = provider
        self._entries = load_recordings(root, provider)
        self._loaded = frozenset(self._entries)
        self._hits: dict[EntryRef, tuple[int, float]] = {}
        self._used: set[EntryRef] = set()
        self._created: set[EntryRef] = set()
        self._lock = asyncio.Lock()  # one file operation at a time: the last put of a key is the file kept

    # ---- the CacheStore protocol ----

    async def get(self, proxy_id: int, key: str, occurrence: int = 1) -> CachedResponse | None:
        found = self._entries.get((key, occurrence))
        return None if found is None else found[0]

    async def put(self, proxy_id: int, entry: CachedResponse) -> None:
        """Write (or replace) the entry's file atomically; its hit count restarts, as in the SQL store."""
        ref = (entry.key, entry.occurrence)
        path = path_for(self.root, entry)
        data = dump_document(entry_to_document(entry, self.provider))
        async with self._lock:
            await asyncio.to_thread(write_atomic, path, data)
            old = self._entries.get(ref)
            if old is not None and old[1] != path:  # a file renamed by hand: one file per recording
                await asyncio.to_thread(_unlink, old[1])
            self._entries[ref] = (entry, path)
            self._hits.pop(ref, None)
            self._created.add(ref)

    async def clear(self, proxy_id: int, namespace: str | None = None) -> int:
        return await self._remove(
            [ref for ref, (e, _) in self._entries.items() if namespace is None or e.namespace == namespace]
        )

    async def delete(self, proxy_id: int, key: str, occurrence: int | None = None) -> int:
        return await self._remove(
            [ref for ref in self._entries if ref[0] == key and (occurrence is None or ref[1] == occurrence)]
        )

    async def _remove(self, refs: list[EntryRef]) -> int:
        async with self._lock:
            paths = [self._entries.pop(ref)[1] for ref in refs if ref in self._entries]
            for ref in refs:
                self._hits.pop(ref, None)
            await asyncio.to_thread(_unlink_all, paths)
        return len(paths)

    async def count(self, proxy_id: int) -> int:
        return len(self._entries)

    async def add_hits(self, hits: Mapping[EntryId, tuple[int, float]]) -> None:
        for (_, key, occurrence), (count, last) in hits.items():
            ref = (key, occurrence)
            if ref not in self._entries:
                continue  # gone since
            before, _ = self._hits.get(ref, (0, 0.0))
            self._hits[ref] = (before + count, last)
            self._used.add(ref)

    async def page(
        self, proxy_id: int, where: EntryFilter, limit: int, after: tuple[datetime, str, int] | None
    ) -> list[EntryInfo]:
        """Newest first, as the SQL store pages them."""
        infos: list[EntryInfo] = []
        for ref, (entry, _) in self._entries.items():
            count, last = self._hits.get(ref, (0, 0.0))
            created = datetime.fromtimestamp(entry.created_at, UTC)
            last_hit = datetime.fromtimestamp(last, UTC) if count else None
            if (
                (where.namespace is not None and entry.namespace != where.namespace)
                or (where.operation is not None and entry.operation != where.operation)
                or (where.model is not None and entry.model != where.model)
            ):
                continue
            if where.unused_since is not None and not (
                created < where.unused_since and (last_hit is None or last_hit < where.unused_since)
            ):
                continue
            if after is not None and (-created.timestamp(), entry.key, entry.occurrence) <= (
                -after[0].timestamp(),
                after[1],
                after[2],
            ):
                continue
            infos.append(_info(entry, created, count, last_hit))
        infos.sort(key=lambda info: (-info.created_at.timestamp(), info.key, info.occurrence))
        return infos[:limit]

    async def recorded_occurrences(self, proxy_id: int, key: str) -> int:
        return max((occurrence for k, occurrence in self._entries if k == key), default=0)

    async def candidates(
        self, proxy_id: int, namespace: str, operation: str | None, limit: int
    ) -> list[CachedResponse]:
        found = [
            entry
            for entry, _ in self._entries.values()
            if entry.namespace == namespace and entry.operation == operation
        ]
        found.sort(key=lambda entry: entry.created_at, reverse=True)
        return found[:limit]

    # ---- for a run's summary ----

    def used_keys(self) -> frozenset[EntryRef]:
        """Recordings that answered a request this run (as counted by LayeredCache.touch, once flushed)."""
        return frozenset(self._used)

    def created_keys(self) -> frozenset[EntryRef]:
        """Recordings written this run."""
        return frozenset(self._created)

    def path_of(self, key: str, occurrence: int = 1) -> Path | None:
        found = self._entries.get((key, occurrence))
        return None if found is None else found[1]

    def stats(self) -> FileStoreStats:
        unused = tuple(
            entry
            for ref, (entry, _) in sorted(self._entries.items(), key=lambda item: str(item[1][1]))
            if ref in self._loaded and ref not in self._used and ref not in self._created
        )
        return FileStoreStats(len(self._loaded), self.used_keys(), self.created_keys(), unused)


def _info(entry: CachedResponse, created: datetime, hits: int, last_hit: datetime | None) -> EntryInfo:
    return EntryInfo(
        entry.key,
        entry.namespace,
        entry.occurrence,
        entry.operation,
        entry.model,
        entry.stream,
        entry.status,
        entry.size,
        created,
        hits,
        last_hit,
        None if entry.expires_at is None else datetime.fromtimestamp(entry.expires_at, UTC),
        list(entry.ignored),
    )


def _unlink_all(paths: list[Path]) -> None:
    for path in paths:
        _unlink(path)


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


if TYPE_CHECKING:

    def _is_a_cache_store(store: FileCacheStore) -> CacheStore:
        return store  # mypy proves FileCacheStore has every method of the protocol, with its signature
