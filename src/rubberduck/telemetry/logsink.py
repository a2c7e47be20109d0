"""Request logs: appended to a bounded queue on the request path, written in batches off it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Protocol

from sqlalchemy import insert

from rubberduck.db.database import Database
from rubberduck.db.models import RequestLog

logger = logging.getLogger("rubberduck.logs")

LogRow = dict[str, Any]


class LogSink(Protocol):
    def append(self, row: LogRow) -> None: ...


class BatchLogWriter:
    """Never blocks a request: rows that do not fit in the queue are dropped and counted."""

    def __init__(self, database: Database, queue_size: int, batch_size: int, flush_seconds: float) -> None:
        self.database = database
        self.batch_size = batch_size
        self.flush_seconds = flush_seconds
        self.queue: asyncio.Queue[LogRow] = asyncio.Queue(maxsize=queue_size)
        self.dropped = 0
        self.written = 0
        self._task: asyncio.Task[None] | None = None
        self._pending: list[LogRow] = []

    def append(self, row: LogRow) -> None:
        try:
            self.queue.put_nowait(row)
        except asyncio.QueueFull:
            self.dropped += 1

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
        while not self.queue.empty():
            self._pending.append(self.queue.get_nowait())
        while self._pending:
            batch = self._pending[: self.batch_size]
            await self._write(batch)
            del self._pending[: len(batch)]

    async def _run(self) -> None:
        backoff = self.flush_seconds
        while True:
            if not self._pending:
                self._pending.append(await self.queue.get())
                await asyncio.sleep(self.flush_seconds)  # let a batch gather
            while len(self._pending) < self.batch_size and not self.queue.empty():
                self._pending.append(self.queue.get_nowait())
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

    async def _write(self, batch: list[LogRow]) -> None:
        async with self.database.session() as session:
            await session.execute(insert(RequestLog), batch)
            await session.commit()
        self.written += len(batch)
