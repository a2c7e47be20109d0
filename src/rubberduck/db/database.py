"""The async engine and session factory, with SQLite tuned for one writer and many readers.

A database server (Postgres) can be down, restarting or unreachable. Every wait on it is bounded (connecting,
waiting for a pooled connection, each statement), and whatever "cannot reach it" looks like underneath (a
refused or timed-out connect, a connection the server closed, a statement that got no answer) surfaces as one
exception, DatabaseUnavailable, which the API turns into a 503 instead of hanging or answering 500.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from sqlalchemy import event, make_url
from sqlalchemy.engine import Dialect, ExceptionContext
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, NullPool
from sqlalchemy.util import await_only

from rubberduck.permissions import owner_only
from rubberduck.redact import redact

CONNECT_TIMEOUT_SECONDS = 3.0
POOL_TIMEOUT_SECONDS = 3.0
# A pooled connection is checked before use; one whose server does not answer this quickly is replaced.
PING_TIMEOUT_SECONDS = 2.0
# A statement that gets no answer for this long means the server (or the network to it) is stuck. Generous,
# because a legitimate statement (a retention purge, a page of logs over a big table) may take a while;
# migrations run on an engine without it (see `unbounded_engine`).
STATEMENT_TIMEOUT_SECONDS = 15.0


class DatabaseUnavailable(OperationalError):
    """The database server could not be reached or stopped answering; `reason` says how, in a few words."""

    @property
    def reason(self) -> str:
        cause = self.orig
        if isinstance(cause, TimeoutError):
            return "it did not answer in time"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        text = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        # asyncpg's messages quote their class ("<class 'asyncpg...'>: message"): keep the message.
        return redact(text.split(">: ", 1)[-1])[:200]


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.is_asyncpg = make_url(url).get_driver_name() == "asyncpg"
        self.engine: AsyncEngine = create_async_engine(url, **self._engine_options(bounded=True))
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        else:
            _report_unavailability(self.engine)
            if self.is_asyncpg:
                _ping_on_checkout(self.engine)
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

    def _engine_options(self, bounded: bool) -> dict[str, Any]:
        if self.is_sqlite:
            return {"connect_args": {"timeout": 30}}
        connect_args: dict[str, Any] = {}
        if self.is_asyncpg:
            connect_args["timeout"] = CONNECT_TIMEOUT_SECONDS
        elif make_url(self.url).get_driver_name().startswith("psycopg"):
            connect_args["connect_timeout"] = math.ceil(CONNECT_TIMEOUT_SECONDS)
        if not bounded:
            return {"connect_args": connect_args, "poolclass": NullPool}
        if self.is_asyncpg:
            connect_args["command_timeout"] = STATEMENT_TIMEOUT_SECONDS
        # A connection the server dropped (a restart) is replaced on checkout, not failed on: asyncpg's are
        # pinged with their own short bound (see _ping_on_checkout), other drivers' by SQLAlchemy's pre-ping.
        return {
            "connect_args": connect_args,
            "pool_pre_ping": not self.is_asyncpg,
            "pool_timeout": POOL_TIMEOUT_SECONDS,
            "pool_size": 10,
            "max_overflow": 10,
        }

    def unbounded_engine(self) -> AsyncEngine:
        """An engine whose statements may take as long as they need (migrations); the caller disposes of it."""
        if self.is_sqlite:
            return self.engine
        engine = create_async_engine(self.url, **self._engine_options(bounded=False))
        _report_unavailability(engine)
        return engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def dispose(self) -> None:
        await self.engine.dispose()


def _report_unavailability(engine: AsyncEngine) -> None:
    """Connection-level failures raise DatabaseUnavailable; errors in what was asked (SQL, data) stay as they are."""

    def connect(dialect: Dialect, _record: ConnectionPoolEntry, cargs: Any, cparams: Any) -> Any:
        try:
            return dialect.connect(*cargs, **cparams)
        except Exception as exc:  # refused, timed out, shutting down, too many clients, bad credentials
            raise DatabaseUnavailable(None, None, exc) from exc

    def failed(context: ExceptionContext) -> None:
        cause = context.original_exception
        if isinstance(cause, DatabaseUnavailable) or context.is_pre_ping:
            return  # already said; a failed pre-ping is retried on a new connection by the pool
        if context.is_disconnect or isinstance(cause, TimeoutError):
            raise DatabaseUnavailable(context.statement, context.parameters, cause) from cause

    event.listen(engine.sync_engine, "do_connect", connect)
    event.listen(engine.sync_engine, "handle_error", failed)


def _ping_on_checkout(engine: AsyncEngine) -> None:
    """SQLAlchemy's pre-ping waits as long as any statement, and lets asyncpg's timeout escape untranslated:
    this one gives up after PING_TIMEOUT_SECONDS and has the pool replace the connection (whose connect is
    bounded in turn). A connection made for this very checkout is not pinged again."""

    def connected(_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["fresh"] = True

    def checkout(connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        if record.info.pop("fresh", False):
            return
        try:
            await_only(connection.driver_connection.execute("SELECT 1", timeout=PING_TIMEOUT_SECONDS))
        except Exception as exc:
            # Dropped at once: the pool would otherwise close it politely, waiting on a server that is silent.
            connection.driver_connection.terminate()
            raise DisconnectionError(f"the pooled connection did not answer: {exc!r}") from exc

    event.listen(engine.sync_engine, "connect", connected)
    event.listen(engine.sync_engine, "checkout", checkout)


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
