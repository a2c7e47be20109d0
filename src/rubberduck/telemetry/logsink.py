"""Request logs: appended to a bounded queue on the request path, written in batches off it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Table, insert

from rubberduck.db.database import Database
from rubberduck.db.models import Base

logger = logging.getLogger("rubberduck.logs")
LOG_TABLE = Table("request_logs", Base.metadata)  # the Core table behind RequestLog

LogRow = dict[str, Any]


class LogSink(Protocol):
    def append(self, row: LogRow) -> None: ...


class BatchLogWriter:
    """Never blocks a request: rows that do not fit in the queue are dropped and counted."""

    def __init__(self, database: Database, queue_size: int, batch_size: int, flush_seconds: float) -> None:
        self.database = database
        self.batch_size = batch_size
        self.flush_seconds = flush_seconds
        self.queue_size = queue_size
        # A plain deque plus a wake-up event: asyncio.Queue's bookkeeping costs the hot path more.
        self.queue: deque[LogRow] = deque()
        self._wake = asyncio.Event()
        self.dropped = 0
        self.written = 0
        self._task: asyncio.Task[None] | None = None
        self._pending: list[LogRow] = []

    def append(self, row: LogRow) -> None:
        if len(self.queue) >= self.queue_size:
            self.dropped += 1
            return
        self.queue.append(row)
        if not self._wake.is_set():
            self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="log-writer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()

    async def flush(self) -> None:
        """Write everything queued so far (used at shutdown and by tests that read logs back)."""
        self._take(len(self.queue))
        while self._pending:
            batch = self._pending[: self.batch_size]
            await self._write(batch)
            del self._pending[: len(batch)]

    async def _run(self) -> None:
        backoff = self.flush_seconds
        while True:
            if not self._pending:
                if not self.queue:
                    self._wake.clear()
                    await self._wake.wait()
                if len(self.queue) < self.batch_size:
                    await asyncio.sleep(self.flush_seconds)  # let a batch gather: fewer, bigger writes
            self._take(self.batch_size - len(self._pending))
            batch = self._pending[: self.batch_size]
            try:
                await self._write(batch)
            except Exception:  # a locked or missing database must not lose the rows: retry later
                logger.warning("writing %d log rows failed; retrying", len(batch), exc_info=True)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = self.flush_seconds
            del self._pending[: len(batch)]

    def _take(self, count: int) -> None:
        for _ in range(min(count, len(self.queue))):
            self._pending.append(self.queue.popleft())

    async def _write(self, batch: list[LogRow]) -> None:
        async with self.database.engine.begin() as connection:
            if self.database.is_sqlite:
                # Plain tuples straight to the driver: SQLAlchemy's per-row type processing would
                # otherwise run on the event loop and stall the proxies for milliseconds per batch.
                await connection.exec_driver_sql(SQLITE_INSERT, [_sqlite_values(row) for row in batch])
            else:
                rows = [
                    {**row, "created_at": datetime.fromtimestamp(row["created_at"], UTC)} for row in batch
                ]
                await connection.execute(insert(LOG_TABLE), rows)
        self.written += len(batch)


LOG_COLUMNS = (
    "created_at", "proxy_id", "user_id", "client_ip", "method", "path", "operation", "model", "stream",
    "status", "latency_ms", "upstream_ms", "ttfb_ms", "cache_status", "cache_key", "fault", "error",
)  # fmt: skip
SQLITE_INSERT = (
    f"INSERT INTO request_logs ({', '.join(LOG_COLUMNS)}) VALUES ({', '.join('?' * len(LOG_COLUMNS))})"
)


def _sqlite_values(row: LogRow) -> tuple[Any, ...]:
    """The row as SQLAlchemy itself stores it in SQLite: naive UTC timestamps, UUIDs as text."""
    created = datetime.fromtimestamp(row["created_at"], UTC).replace(tzinfo=None).isoformat(sep=" ")
    user = row["user_id"]
    values = [row.get(name) for name in LOG_COLUMNS]
    values[0] = created
    values[2] = str(user) if user is not None else None
    return tuple(values)
