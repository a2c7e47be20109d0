"""Log rows as SQLite receives them: flat values for multi-row INSERT statements.

Imports nothing heavy: the log writer process (sqlitewriter.py) uses it as well.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

# One request's metadata. `created_at` is epoch seconds (a float) from the request path to the
# listeners; only the database sees it as a timestamp.
LogRow = dict[str, Any]

LOG_COLUMNS = (
    "id", "created_at", "proxy_id", "user_id", "client_ip", "method", "path", "operation", "model",
    "stream", "status", "latency_ms", "upstream_ms", "ttfb_ms", "cache_status", "cache_key", "fault",
    "input_tokens", "output_tokens", "cached_tokens", "cost_usd", "saved_usd", "error",
)  # fmt: skip
# SQLite gets a batch as multi-row INSERTs of plain values, as many rows to a statement as its
# parameter limit allows: one statement step each. Row-by-row executemany costs a round of the
# driver per row, and a JSON parameter unpacked by SQLite (json_each) three times the CPU.
# `created_at` arrives as epoch seconds and is stored as the text SQLAlchemy binds for a timestamp:
# naive UTC with six fraction digits (on a whole second isoformat() would drop them, and a page
# cursor pointing at the row would then miss it).
MAX_CHUNK_ROWS = 500  # a statement per row count is cached: keep their number bounded
_STORED_TIME = "strftime('%Y-%m-%d %H:%M:%S', us / 1000000, 'unixepoch') || printf('.%06d', us % 1000000)"


def chunk_rows() -> int:
    """Rows per INSERT: 500, or fewer where SQLite was built with a lower parameter limit (999 before 3.32)."""
    with contextlib.closing(sqlite3.connect(":memory:")) as probe:
        limit = probe.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    return max(1, min(MAX_CHUNK_ROWS, limit // len(LOG_COLUMNS)))


@lru_cache(maxsize=64)
def sqlite_insert(rows: int) -> str:
    """The statement for `rows` rows; one per chunk size, so SQLite's statement cache keeps them."""
    row = "(" + ", ".join("?" * len(LOG_COLUMNS)) + ")"
    columns = [f"column{index}" for index in range(1, len(LOG_COLUMNS) + 1)]
    columns[1] = _STORED_TIME
    return (
        f"INSERT INTO request_logs ({', '.join(LOG_COLUMNS)}) SELECT {', '.join(columns)} "
        "FROM (SELECT *, CAST(round(column2 * 1000000) AS INTEGER) AS us "
        f"FROM (VALUES {', '.join([row] * rows)})) "
        # Ids come from the server, so a batch sent again (its writer died after the commit but before
        # it answered) holds rows that are already there: skip those rather than fail the batch forever.
        # (`WHERE true` keeps SQLite from reading ON CONFLICT as part of the SELECT's join.)
        "WHERE true ON CONFLICT(id) DO NOTHING"
    )


_USER_TEXT: dict[Any, str | None] = {None: None}  # few owners, many rows: format each UUID once
_USER_INDEX = LOG_COLUMNS.index("user_id")


def sqlite_values(rows: list[LogRow]) -> tuple[Any, ...]:
    """The rows' columns in one flat sequence, as the multi-row statements bind them."""
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


def insert_statements(values: tuple[Any, ...], chunk: int) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """(statement, parameters) for flat `values`, `chunk` rows at a time."""
    width = len(LOG_COLUMNS) * chunk
    for start in range(0, len(values), width):
        part = values[start : start + width]
        yield sqlite_insert(len(part) // len(LOG_COLUMNS)), part
