"""Inserting log rows: ids assigned here, so rows can be streamed live with their ids."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import func, insert, select

from rubberduck.db.database import Database
from rubberduck.db.models import RequestLog

LogRow = dict[str, Any]

LOG_COLUMNS = (
    "id", "created_at", "proxy_id", "user_id", "client_ip", "method", "path", "operation", "model",
    "stream", "status", "latency_ms", "upstream_ms", "ttfb_ms", "cache_status", "cache_key", "fault",
    "input_tokens", "output_tokens", "cached_tokens", "cost_usd", "saved_usd", "error",
)  # fmt: skip
# The whole batch is one JSON parameter that SQLite unpacks itself: one statement step, during which
# the driver releases the GIL. Row-by-row executemany takes the GIL back for every row, and each
# time waits for the event loop to let go of it: the writer then falls behind a busy proxy.
SQLITE_INSERT = (
    f"INSERT INTO request_logs ({', '.join(LOG_COLUMNS)}) SELECT "
    + ", ".join(f"json_extract(value, '$[{index}]')" for index in range(len(LOG_COLUMNS)))
    + " FROM json_each(?)"
)


class LogStore:
    def __init__(self, database: Database) -> None:
        self.database = database
        self._next_id = 0

    async def prepare(self) -> None:
        async with self.database.session() as session:
            self._next_id = int(await session.scalar(select(func.max(RequestLog.id))) or 0) + 1

    async def insert(self, rows: list[LogRow]) -> None:
        """Write the batch; each row gets its `id` and a datetime `created_at`."""
        for row in rows:
            if "id" not in row:
                row["id"] = self._next_id
                self._next_id += 1
            if not isinstance(row["created_at"], datetime):
                row["created_at"] = datetime.fromtimestamp(row["created_at"], UTC)
        async with self.database.engine.begin() as connection:
            if self.database.is_sqlite:
                # Straight to the driver: SQLAlchemy's per-row type processing would otherwise run
                # on the event loop and stall the proxies for milliseconds per batch.
                batch = orjson.dumps([_sqlite_values(row) for row in rows])
                await connection.exec_driver_sql(SQLITE_INSERT, (batch.decode(),))
            else:
                await connection.execute(insert(RequestLog.__table__), [_columns(row) for row in rows])  # type: ignore[arg-type]


def _columns(row: LogRow) -> LogRow:
    return {name: row.get(name) for name in LOG_COLUMNS}


_USER_TEXT: dict[Any, str | None] = {None: None}  # few owners, many rows: format each UUID once


def _sqlite_values(row: LogRow) -> tuple[Any, ...]:
    """The row as SQLAlchemy itself stores it in SQLite: naive UTC timestamps, UUIDs as text."""
    values = [row.get(name) for name in LOG_COLUMNS]
    # Always six fraction digits, as SQLAlchemy binds: on a whole second isoformat() would drop them,
    # and the stored text would then sort before the cursor that points at it.
    values[1] = row["created_at"].astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    user = row.get("user_id")
    text = _USER_TEXT.get(user)
    if text is None and user is not None:
        text = _USER_TEXT[user] = str(user)
    values[3] = text
    return tuple(values)
