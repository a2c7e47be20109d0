"""Inserting log rows: ids assigned here, so rows can be streamed live with their ids."""

from __future__ import annotations

import contextlib
import sqlite3
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import func, insert, select

from rubberduck.db.database import Database
from rubberduck.db.models import RequestLog

# One request's metadata. `created_at` is epoch seconds (a float) from the request path to the
# listeners; only the database sees it as a timestamp.
LogRow = dict[str, Any]

LOG_COLUMNS = (
    "id", "created_at", "proxy_id", "user_id", "client_ip", "method", "path", "operation", "model",
    "stream", "status", "latency_ms", "upstream_ms", "ttfb_ms", "cache_status", "cache_key", "fault",
    "input_tokens", "output_tokens", "cached_tokens", "cost_usd", "saved_usd", "error",
)  # fmt: skip
# SQLite gets the batch as multi-row INSERTs of plain values, as many rows to a statement as its
# parameter limit allows: one statement step each, during which the driver releases the GIL. Row-by-row executemany would take
# the GIL back for every row and wait each time for the busy event loop to let go of it; a JSON
# parameter unpacked by SQLite (json_each) costs SQLite three times the CPU.
# `created_at` arrives as epoch seconds and is stored as the text SQLAlchemy binds for a timestamp:
# naive UTC with six fraction digits (on a whole second isoformat() would drop them, and a page
# cursor pointing at the row would then miss it).
MAX_CHUNK_ROWS = 500  # a statement per row count is cached: keep their number bounded


def chunk_rows() -> int:
    """Rows per INSERT: 500, or fewer where SQLite was built with a lower parameter limit (999 before 3.32)."""
    with contextlib.closing(sqlite3.connect(":memory:")) as probe:
        limit = probe.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    return max(1, min(MAX_CHUNK_ROWS, limit // len(LOG_COLUMNS)))


_STORED_TIME = "strftime('%Y-%m-%d %H:%M:%S', us / 1000000, 'unixepoch') || printf('.%06d', us % 1000000)"


@lru_cache(maxsize=64)
def sqlite_insert(rows: int) -> str:
    """The statement for `rows` rows; one per chunk size, so SQLite's statement cache keeps them."""
    row = "(" + ", ".join("?" * len(LOG_COLUMNS)) + ")"
    columns = [f"column{index}" for index in range(1, len(LOG_COLUMNS) + 1)]
    columns[1] = _STORED_TIME
    return (
        f"INSERT INTO request_logs ({', '.join(LOG_COLUMNS)}) SELECT {', '.join(columns)} "
        "FROM (SELECT *, CAST(round(column2 * 1000000) AS INTEGER) AS us "
        f"FROM (VALUES {', '.join([row] * rows)}))"
    )


def row_time(row: LogRow) -> datetime:
    return datetime.fromtimestamp(row["created_at"], UTC)


class LogStore:
    def __init__(self, database: Database) -> None:
        self.database = database
        self._next_id = 0
        self._chunk_rows = chunk_rows()

    async def prepare(self) -> None:
        async with self.database.session() as session:
            self._next_id = int(await session.scalar(select(func.max(RequestLog.id))) or 0) + 1

    async def insert(self, rows: list[LogRow]) -> None:
        """Write the batch; each row gets its `id` (kept when a failed batch is written again)."""
        for row in rows:
            if "id" not in row:
                row["id"] = self._next_id
                self._next_id += 1
        async with self.database.engine.begin() as connection:
            if self.database.is_sqlite:
                # Straight to the driver: SQLAlchemy's per-row type processing would otherwise run
                # on the event loop and stall the proxies for milliseconds per batch.
                for start in range(0, len(rows), self._chunk_rows):
                    chunk = rows[start : start + self._chunk_rows]
                    await connection.exec_driver_sql(sqlite_insert(len(chunk)), _sqlite_values(chunk))
            else:
                await connection.execute(insert(RequestLog.__table__), [_columns(row) for row in rows])  # type: ignore[arg-type]


_USER_TEXT: dict[Any, str | None] = {None: None}  # few owners, many rows: format each UUID once
_USER_INDEX = LOG_COLUMNS.index("user_id")


def _sqlite_values(rows: list[LogRow]) -> tuple[Any, ...]:
    """The rows' columns in one flat sequence, as the multi-row statement binds them."""
    values: list[Any] = []
    for row in rows:
        offset = len(values)
        values += map(row.get, LOG_COLUMNS)
        user = values[offset + _USER_INDEX]
        text = _USER_TEXT.get(user)
        if text is None and user is not None:
            text = _USER_TEXT[user] = str(user)
        values[offset + _USER_INDEX] = text
    return tuple(values)


def _columns(row: LogRow) -> LogRow:
    values = {name: row.get(name) for name in LOG_COLUMNS}
    values["created_at"] = row_time(row)
    return values
