"""Request logs: appended to a bounded queue on the request path, written in batches off it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from rubberduck.telemetry.sqlite_rows import LogRow

if TYPE_CHECKING:  # the SQL store: not loaded by a process that only needs the LogSink protocol
    from rubberduck.telemetry.logstore import LogStore

logger = logging.getLogger("rubberduck.logs")

RowListener = Callable[[list[LogRow]], None]


class LogSink(Protocol):
    def append(self, row: LogRow) -> None: ...


class BatchLogWriter:
    """Never blocks a request: rows that do not fit in the queue are dropped and counted.

    Each batch is enriched (usage, cost), inserted, then handed to listeners (live stream, roll-ups).
    A failed insert is retried with backoff; the rows wait in memory meanwhile.
    """

    def __init__(
        self,
        store: LogStore,
        queue_size: int,
        batch_size: int,
        flush_seconds: float,
        enrich: Callable[[LogRow], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self._clock = clock
        self.batch_size = batch_size
        self.flush_seconds = flush_seconds
        self.queue_size = queue_size
        self.enrich = enrich
        self.listeners: list[RowListener] = []
        # A plain deque plus a wake-up event: asyncio.Queue's bookkeeping costs the hot path more.
        self.queue: deque[LogRow] = deque()
        self._wake = asyncio.Event()
        self.dropped = 0
        self.written = 0
        self.failed_writes = 0
        self._task: asyncio.Task[None] | None = None
        self._pending: list[LogRow] = []
        self._oldest_at = 0.0  # when the oldest row still in `queue` came (or earlier)
        # flush() (called by the API) and the loop share _pending: two inserts of the same rows at once
        # would fail on their ids, and fail a request that only wanted the newest rows counted.
        self._write_lock = asyncio.Lock()

    @property
    def queued(self) -> int:
        return len(self.queue) + len(self._pending)

    def append(self, row: LogRow) -> None:
        if len(self.queue) + len(self._pending) >= self.queue_size:
            self.dropped += 1
            return
        if not self.queue:
            self._oldest_at = self._clock()  # the flush deadline counts from the oldest waiting row
        self.queue.append(row)
        if not self._wake.is_set():
            self._wake.set()

    async def start(self) -> None:
        await self.store.prepare()
        self._task = asyncio.create_task(self._run(), name="log-writer")

    async def stop(self) -> None:
        if self._task is not None:
            # Not in the middle of a write: cancelled there, the batch would be sent again by flush(),
            # fail on its ids and take every row still queued down with it.
            async with self._write_lock:
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            await self.flush()
        except Exception:
            logger.exception("%d log rows could not be written at shutdown", self.queued)
        await self.store.close()

    async def flush(self) -> None:
        """Write everything queued so far (at shutdown, and for tests that read logs back)."""
        self._take(len(self.queue))
        while self._pending:
            await self._write_next()

    async def _run(self) -> None:
        backoff = self.flush_seconds
        while True:
            if not self._pending:
                if not self.queue:
                    self._wake.clear()
                    await self._wake.wait()
                # Let a batch gather (fewer, bigger writes), but no row waits past its flush deadline:
                # a crash loses at most the rows of the last flush interval (and the batch being written).
                wait = self._oldest_at + self.flush_seconds - self._clock()
                if len(self.queue) < self.batch_size and wait > 0:
                    await asyncio.sleep(wait)
            self._take(self.batch_size - len(self._pending))
            try:
                await self._write_next()
            except Exception:  # a locked or missing database must not lose the rows: retry later
                self.failed_writes += 1
                logger.warning("writing %d log rows failed; will retry", len(self._pending), exc_info=True)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = self.flush_seconds

    async def _write_next(self) -> None:
        async with self._write_lock:
            batch = self._pending[: self.batch_size]
            if not batch:  # the other writer took them while this one waited
                return
            if self.enrich is not None:
                for row in batch:
                    if "_body" in row:
                        self.enrich(row)
            await self.store.insert(batch)
            del self._pending[: len(batch)]
            self.written += len(batch)
        for listener in self.listeners:
            try:
                listener(batch)
            except Exception:
                logger.exception("a log listener failed")

    def _take(self, count: int) -> None:
        for _ in range(min(count, len(self.queue))):
            self._pending.append(self.queue.popleft())
