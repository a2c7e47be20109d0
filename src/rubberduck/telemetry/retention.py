"""Log retention: rows older than the configured number of days are purged in the background."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete

from rubberduck.db.database import Database
from rubberduck.db.models import RequestLog

logger = logging.getLogger("rubberduck.retention")


class RetentionTask:
    def __init__(
        self, database: Database, retention_days: Callable[[], int | None], interval: float = 3600
    ) -> None:
        self.database = database
        self.retention_days = retention_days  # read on every run: a settings change applies without restart
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def purge_once(self) -> int:
        days = self.retention_days()
        if not days:
            return 0
        cutoff = datetime.now(UTC) - timedelta(days=days)
        async with self.database.session() as session:
            result = await session.execute(delete(RequestLog).where(RequestLog.created_at < cutoff))
            await session.commit()
        deleted = int(getattr(result, "rowcount", 0) or 0)
        if deleted:
            logger.info("log retention: purged %d rows older than %d days", deleted, days)
        return deleted

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="log-retention")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self.purge_once()
            except Exception:
                logger.warning("log retention purge failed; will retry", exc_info=True)
            await asyncio.sleep(self.interval)
