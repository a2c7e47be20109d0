"""LogStore writes a whole batch in one statement: every column must read back as SQLAlchemy wrote it."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from rubberduck.db.database import Database
from rubberduck.db.migrate import upgrade_to_head
from rubberduck.db.models import RequestLog
from rubberduck.telemetry.logstore import LogStore
from rubberduck.telemetry.sqlite_rows import LOG_COLUMNS, chunk_rows
from rubberduck.telemetry.sqlitewriter import LogWriteError, SqliteWriterProcess

OWNER = uuid.UUID("6f1c1d0e-4b7a-4c4e-9a53-2f4d1c3b2a10")
FULL_ROW = {
    "created_at": datetime(2026, 11, 29, 18, 30, 0, tzinfo=UTC).timestamp(),  # a whole second
    "proxy_id": 7,
    "user_id": OWNER,
    "client_ip": "2001:db8::1",
    "method": "POST",
    "path": "/v1/chat/completions",
    "operation": "chat.completions",
    "model": "gpt-4o-mini — ünïcode",
    "stream": True,
    "status": 200,
    "latency_ms": 12.5,
    "upstream_ms": 10.25,
    "ttfb_ms": 3.0,
    "cache_status": "miss",
    "cache_key": "ab" * 32,
    "fault": "latency",
    "input_tokens": 1_000_000_007,
    "output_tokens": 0,
    "cached_tokens": 5,
    "cost_usd": 0.000123,
    "saved_usd": 0.0,
    "error": 'quote " and comma , and newline \n',
}
SPARSE_ROW = {
    "created_at": datetime(2026, 11, 29, 18, 30, 0, 250_000, tzinfo=UTC).timestamp(),
    "proxy_id": 7,
    "user_id": None,
    "method": "GET",
    "path": "/v1/models",
    "stream": False,
    "status": 499,
    "latency_ms": 0.0,
    "cache_status": "bypass",
}


def test_a_batch_reads_back_column_for_column(tmp_path: Path) -> None:
    async def scenario() -> list[RequestLog]:
        database = Database(f"sqlite+aiosqlite:///{tmp_path / 'logs.db'}")
        await upgrade_to_head(database)
        store = LogStore(database)
        await store.prepare()
        await store.insert([dict(FULL_ROW), dict(SPARSE_ROW)])
        async with database.session() as session:
            rows = list((await session.scalars(select(RequestLog).order_by(RequestLog.id))).all())
        await database.dispose()
        return rows

    full, sparse = asyncio.run(scenario())
    assert (full.id, sparse.id) == (1, 2)
    assert full.created_at == datetime(2026, 11, 29, 18, 30, 0, tzinfo=UTC)
    assert sparse.created_at == datetime(2026, 11, 29, 18, 30, 0, 250_000, tzinfo=UTC)
    for name, value in FULL_ROW.items():
        if name != "created_at":
            assert getattr(full, name) == value, name
    assert full.stream is True and sparse.stream is False
    assert sparse.user_id is None and sparse.model is None and sparse.cost_usd is None
    assert sparse.status == 499 and sparse.cache_status == "bypass"


def test_a_batch_larger_than_one_statement_is_written_whole_and_in_order(tmp_path: Path) -> None:
    """Batches are split by SQLite's parameter limit: every row lands once, ids in order."""

    async def scenario() -> list[tuple[int, str]]:
        database = Database(f"sqlite+aiosqlite:///{tmp_path / 'logs.db'}")
        await upgrade_to_head(database)
        store = LogStore(database)
        await store.prepare()
        store._chunk_rows = 3  # as if SQLite allowed only 3 rows' parameters per statement
        await store.insert([dict(SPARSE_ROW, path=f"/v1/row/{n}") for n in range(8)])
        async with database.session() as session:
            rows = (
                await session.execute(select(RequestLog.id, RequestLog.path).order_by(RequestLog.id))
            ).all()
        await database.dispose()
        return [(row.id, row.path) for row in rows]

    assert asyncio.run(scenario()) == [(n + 1, f"/v1/row/{n}") for n in range(8)]


def test_the_rows_per_statement_respect_the_sqlite_parameter_limit() -> None:
    with contextlib.closing(sqlite3.connect(":memory:")) as probe:
        limit = probe.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    assert 1 <= chunk_rows() * len(LOG_COLUMNS) <= limit


def test_a_writer_process_writes_batches_and_reports_failures(tmp_path: Path) -> None:
    """The child process writes what the in-process path would; a locked database is an error, then retried."""
    path = tmp_path / "logs.db"

    async def scenario() -> tuple[list[RequestLog], str]:
        database = Database(f"sqlite+aiosqlite:///{path}")
        await upgrade_to_head(database)
        store = LogStore(database, SqliteWriterProcess(str(path), busy_timeout_seconds=0.05))
        await store.prepare()
        await store.insert([dict(FULL_ROW), dict(SPARSE_ROW)])
        locker = sqlite3.connect(path, isolation_level=None)
        locker.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        retried = dict(SPARSE_ROW, path="/v1/retried")
        with pytest.raises(LogWriteError) as failure:
            await store.insert([retried])
        locker.execute("ROLLBACK")
        locker.close()
        await store.insert([retried])  # the same row (and id) once the lock is gone
        await store.close()
        async with database.session() as session:
            rows = list((await session.scalars(select(RequestLog).order_by(RequestLog.id))).all())
        await database.dispose()
        return rows, str(failure.value)

    rows, failure = asyncio.run(scenario())
    assert "locked" in failure
    assert [row.id for row in rows] == [1, 2, 3] and rows[2].path == "/v1/retried"
    for name, value in FULL_ROW.items():
        if name != "created_at":
            assert getattr(rows[0], name) == value, name
    assert rows[0].created_at == datetime(2026, 11, 29, 18, 30, 0, tzinfo=UTC)
    assert rows[1].created_at == datetime(2026, 11, 29, 18, 30, 0, 250_000, tzinfo=UTC)


@pytest.mark.parametrize("through_writer_process", [False, True])
def test_a_batch_sent_again_after_it_landed_is_not_an_error(
    tmp_path: Path, through_writer_process: bool
) -> None:
    """A writer that committed but died before answering gets the batch again: rows land once, no failure."""
    path = tmp_path / "logs.db"

    async def scenario() -> list[tuple[int, str]]:
        database = Database(f"sqlite+aiosqlite:///{path}")
        await upgrade_to_head(database)
        writer = SqliteWriterProcess(str(path)) if through_writer_process else None
        store = LogStore(database, writer)
        await store.prepare()
        batch = [dict(SPARSE_ROW, path="/v1/first"), dict(SPARSE_ROW, path="/v1/second")]
        await store.insert(batch)
        await store.insert([*batch, dict(SPARSE_ROW, path="/v1/new")])  # the same ids, plus one new row
        await store.close()
        async with database.session() as session:
            rows = (
                await session.execute(select(RequestLog.id, RequestLog.path).order_by(RequestLog.id))
            ).all()
        await database.dispose()
        return [(row.id, row.path) for row in rows]

    assert asyncio.run(scenario()) == [(1, "/v1/first"), (2, "/v1/second"), (3, "/v1/new")]
