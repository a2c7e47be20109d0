"""The async engine and session factory, with SQLite tuned for one writer and many readers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import event, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from rubberduck.permissions import owner_only


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": 30}
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        if self.sqlite_file is not None:
            owner_only_sqlite(self.sqlite_file)

    def session(self) -> AsyncSession:
        return self.sessions()

    @property
    def sqlite_file(self) -> str | None:
        """The SQLite database's file path; None for other databases and in-memory ones."""
        if not self.is_sqlite:
            return None
        path = make_url(self.url).database
        return path if path and path != ":memory:" else None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def dispose(self) -> None:
        await self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the API read while the log writer writes; foreign keys make ON DELETE CASCADE work.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def owner_only_sqlite(path: str) -> None:
    """Create the SQLite file 0600 before SQLite does (it would make it 0644), and tighten old ones.

    SQLite gives its -wal, -shm and -journal files the mode of the database file, so they follow;
    every later opener (the log writer process included) finds the file already there.
    """
    database = Path(path)
    if path.startswith("file:"):  # a SQLite URI (shared memory and the like): SQLite decides
        return
    if not database.exists():
        try:
            os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            pass
        except OSError:  # no such directory, read-only place: SQLite will say so in its own words
            return
    for suffix in ("", "-wal", "-shm", "-journal"):
        owner_only(Path(path + suffix), 0o600)
