"""Inserting log rows: ids assigned here, so rows can be streamed live with their ids."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
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
# The whole batch is one JSON parameter that SQLite unpacks itself, in C, in one statement step
# during which the driver releases the GIL. Row-by-row executemany would take the GIL back for
# every row, wait each time for the event loop to let go of it, and fall behind a busy proxy; and
# converting each row to a tuple of SQL values in Python costs the event loop more than the row did.
# `created_at` becomes the text SQLAlchemy binds for a timestamp in SQLite: naive UTC with six
# fraction digits (on a whole second isoformat() would drop them, and a page cursor would miss it).
_MICROSECONDS = "CAST(round(json_extract(value, '$.created_at') * 1000000) AS INTEGER)"
SQLITE_INSERT = (
    f"INSERT INTO request_logs ({', '.join(LOG_COLUMNS)}) "
    "SELECT json_extract(value, '$.id'), "
    "strftime('%Y-%m-%d %H:%M:%S', us / 1000000, 'unixepoch') || printf('.%06d', us % 1000000), "
    + ", ".join(f"json_extract(value, '$.{name}')" for name in LOG_COLUMNS[2:])
    + f" FROM (SELECT value, {_MICROSECONDS} AS us FROM json_each(?))"
)


def row_time(row: LogRow) -> datetime:
    return datetime.fromtimestamp(row["created_at"], UTC)


class LogStore:
    def __init__(self, database: Database) -> None:
        self.database = database
        self._next_id = 0

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
                batch = orjson.dumps(
                    rows, default=_unserialisable, option=orjson.OPT_PASSTHROUGH_DATACLASS
                ).decode()
                await connection.exec_driver_sql(SQLITE_INSERT, (batch,))
            else:
                await connection.execute(insert(RequestLog.__table__), [_columns(row) for row in rows])  # type: ignore[arg-type]


def _unserialisable(value: Any) -> None:
    """Anything a row carries that is not a column (the response body on its way to the enricher)."""
    return None


def _columns(row: LogRow) -> LogRow:
    values = {name: row.get(name) for name in LOG_COLUMNS}
    values["created_at"] = row_time(row)
    return values
