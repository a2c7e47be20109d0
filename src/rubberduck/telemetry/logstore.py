"""Inserting log rows: ids assigned here, so rows can be streamed live with their ids."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from rubberduck.db.database import Database
from rubberduck.db.models import RequestLog
from rubberduck.telemetry.sqlite_rows import LOG_COLUMNS, LogRow, chunk_rows, insert_statements, sqlite_values
from rubberduck.telemetry.sqlitewriter import SqliteWriterProcess


def row_time(row: LogRow) -> datetime:
    return datetime.fromtimestamp(row["created_at"], UTC)


class LogStore:
    """Writes batches of rows. On SQLite a writer process may do the writing (see sqlitewriter.py)."""

    def __init__(self, database: Database, writer: SqliteWriterProcess | None = None) -> None:
        self.database = database
        self.writer = writer
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
        if not self.database.is_sqlite:
            async with self.database.engine.begin() as connection:
                # A batch written again after a failure may hold rows that did land: skip those.
                skip_landed = pg_insert(RequestLog.__table__).on_conflict_do_nothing(index_elements=["id"])  # type: ignore[arg-type]
                await connection.execute(skip_landed, [_columns(row) for row in rows])
            return
        values = sqlite_values(rows)
        if self.writer is not None:
            await self.writer.insert(values)
            return
        # Straight to the driver: SQLAlchemy's per-row type processing would otherwise run on the
        # event loop and stall the proxies for milliseconds per batch.
        async with self.database.engine.begin() as connection:
            for statement, parameters in insert_statements(values, self._chunk_rows):
                await connection.exec_driver_sql(statement, parameters)

    async def close(self) -> None:
        if self.writer is not None:
            await self.writer.stop()


def _columns(row: LogRow) -> LogRow:
    values = {name: row.get(name) for name in LOG_COLUMNS}
    values["created_at"] = row_time(row)
    return values
