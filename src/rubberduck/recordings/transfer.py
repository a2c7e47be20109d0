"""`rubberduck recordings export|import`: between a proxy's recordings in the database and a directory.

Export and import open the server's database the way `rubberduck user create` does (data dir, database URL,
same environment variables); they can run while the server runs. An import is seen by a running proxy on
its next lookup of each key, except for entries the server already holds in memory (the memory LRU is the
server's, and only a clear or a restart empties it): those it keeps replaying, so the command says so when
it replaced entries.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

from sqlalchemy import select

from rubberduck.cache.entry import CachedResponse
from rubberduck.cache.protocol import CacheStore
from rubberduck.cache.sqlstore import EntryFilter, SqlCacheStore
from rubberduck.db.database import Database
from rubberduck.db.models import Proxy, User
from rubberduck.recordings.check import check_directory
from rubberduck.recordings.files import (
    RecordingError,
    document_to_entry,
    dump_document,
    entry_to_document,
    path_for,
    read_document,
    recording_files,
    write_atomic,
)
from rubberduck.settings import Settings

PAGE = 500


class CommandError(Exception):
    """One line for the user: printed as `error: …`, exit 1."""


def _database(settings: Settings) -> Database:
    url = settings.resolved_database_url
    if not settings.database_url and not (settings.data_dir / "rubberduck.db").exists():
        raise CommandError(f"no database in {settings.data_dir} (pass --data-dir or --database-url)")
    return Database(url)


async def find_proxy(database: Database, ident: str, owner: str | None) -> Proxy:
    """The proxy by id, or by name (then --owner decides between users; an ambiguous name is refused)."""
    async with database.session() as session:
        query = select(Proxy, User).join(User, Proxy.owner_id == User.id)
        if ident.isdigit():
            found = (await session.execute(query.where(Proxy.id == int(ident)))).all()
            if found:
                proxy: Proxy = found[0][0]
                return proxy
        query = query.where(Proxy.name == ident)
        if owner is not None:
            query = query.where(User.email == owner)  # type: ignore[arg-type]
        matches = (await session.execute(query.order_by(Proxy.id))).all()
    if not matches:
        whose = f" owned by {owner}" if owner else ""
        raise CommandError(f"no proxy with id or name {ident!r}{whose}")
    if len(matches) > 1:
        listed = ", ".join(f"{proxy.id} ({user.email})" for proxy, user in matches)
        raise CommandError(
            f"proxy name {ident!r} is used by several users: {listed}; pass --owner EMAIL or the id"
        )
    chosen: Proxy = matches[0][0]
    return chosen


def run_transfer(args: argparse.Namespace, settings: Settings, work: str) -> int:
    if work == "import" and not args.dir.is_dir():
        print(f"error: {args.dir} is not a directory", file=sys.stderr)
        return 1

    async def run() -> int:
        database = _database(settings)
        try:
            proxy = await find_proxy(database, args.proxy, args.owner)
            if work == "export":
                return await _export(SqlCacheStore(database), proxy, args.dir, args.namespace)
            return await _import(SqlCacheStore(database), proxy, args.dir)
        finally:
            await database.dispose()

    try:
        return asyncio.run(run())
    except (CommandError, RecordingError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


async def exported(
    store: CacheStore, proxy_id: int, provider: str, namespace: str | None
) -> AsyncIterator[tuple[CachedResponse, bytes | None]]:
    """Each recording of the proxy (one namespace, or all) with its file's bytes; None for one that cannot be
    exported (recorded before entries kept their request: nothing to check it by)."""
    after = None
    while True:
        infos = await store.page(proxy_id, EntryFilter(namespace=namespace), PAGE, after)
        for info in infos:
            entry = await store.get(proxy_id, info.key, info.occurrence)
            if entry is None:
                continue  # deleted meanwhile
            if entry.request is None:
                yield entry, None
                continue
            yield entry, dump_document(entry_to_document(entry, provider))
        if len(infos) < PAGE:
            break
        last = infos[-1]
        after = (last.created_at, last.key, last.occurrence)


async def _export(store: SqlCacheStore, proxy: Proxy, root: Path, namespace: str | None) -> int:
    written = unchanged = skipped = 0
    async for entry, data in exported(store, proxy.id, proxy.provider, namespace):
        if data is None:
            skipped += 1
        elif await asyncio.to_thread(write_atomic, path_for(root, entry), data):
            written += 1
        else:
            unchanged += 1
    print(f"exported {written + unchanged} recordings of proxy {proxy.id} ({proxy.name}) to {root}: "
          f"{written} written, {unchanged} unchanged")  # fmt: skip
    if skipped:
        print(f"skipped {skipped} recordings made before requests were kept with them: record them again")
    return 0


class BadRecordings(RecordingError):
    """Some files of a directory cannot be imported: each with its reason; nothing was imported."""

    def __init__(self, root: Path, problems: list[tuple[Path, str]]) -> None:
        super().__init__(f"{len(problems)} bad recording files in {root}: nothing imported")
        self.problems = problems


class EntrySink(Protocol):
    """Where an import writes: the store (CLI) or the server's layered cache (API, seen at once)."""

    async def get(self, proxy_id: int, key: str, occurrence: int = 1) -> CachedResponse | None: ...
    async def put(self, proxy_id: int, entry: CachedResponse) -> None: ...


def read_directory(root: Path, provider: str) -> tuple[list[CachedResponse], Counter[str]]:
    """The provider's recordings in root, and how many files other providers have there.

    Every file is checked first (check_directory); if one is bad, BadRecordings lists them all.
    """
    report = check_directory(root)
    if not report.ok:
        raise BadRecordings(root, report.problems)
    entries: list[CachedResponse] = []
    others: Counter[str] = Counter()
    for path in recording_files(root):
        document = read_document(path)
        if document["provider"] != provider:
            others[str(document["provider"])] += 1
            continue
        entries.append(document_to_entry(document))
    return entries, others


async def import_entries(sink: EntrySink, proxy_id: int, entries: list[CachedResponse]) -> int:
    """Writes every entry; returns how many replaced one already there."""
    replaced = 0
    for entry in entries:
        if await sink.get(proxy_id, entry.key, entry.occurrence) is not None:
            replaced += 1
        await sink.put(proxy_id, entry)
    return replaced


def _read_directory(root: Path, provider: str) -> tuple[list[CachedResponse], Counter[str]]:
    try:
        return read_directory(root, provider)
    except BadRecordings as exc:
        for path, reason in exc.problems:
            print(f"{path}: {reason}", file=sys.stderr)
        raise CommandError(str(exc)) from None


async def _import(store: SqlCacheStore, proxy: Proxy, root: Path) -> int:
    entries, others = await asyncio.to_thread(_read_directory, root, proxy.provider)
    replaced = await import_entries(store, proxy.id, entries)
    print(f"imported {len(entries)} recordings into proxy {proxy.id} ({proxy.name}), {replaced} replaced")
    if others:
        listed = ", ".join(f"{count} {name}" for name, count in sorted(others.items()))
        print(f"left out recordings of other providers: {listed}")
    configured = (proxy.cache or {}).get("ignore")
    ignore = [str(path) for path in configured] if isinstance(configured, list) else []
    recorded_with = sorted({tuple(entry.ignored) for entry in entries} - {tuple(ignore)})
    if recorded_with:
        print(f"note: the proxy's ignore paths are {ignore}, some recordings were keyed with "
              f"{[list(paths) for paths in recorded_with]}: those never match until the proxy ignores the same")  # fmt: skip
    if replaced:
        print(
            f"note: a running server may keep replaying the {replaced} replaced entries from memory until it "
            f"restarts; clear the proxy's recordings first (DELETE /api/proxies/{proxy.id}/cache) to avoid that"
        )
    return 0
