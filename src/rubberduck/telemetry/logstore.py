"""Inserting log rows: ids assigned here, so rows can be streamed live with their ids.

On SQLite one process writes, so it counts on from the highest id. On Postgres several nodes write the same
table: ids come from the table's sequence, a batch's worth in one round trip, so no two nodes ever pick the
same id (a row is never lost to a conflict with another node's row).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select, text
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
        if not self.database.is_sqlite:
            return  # the sequence hands out ids: nothing to learn from the table
        async with self.database.session() as session:
            self._next_id = int(await session.scalar(select(func.max(RequestLog.id))) or 0) + 1

    async def insert(self, rows: list[LogRow]) -> None:
        """Write the batch; each row gets its `id` (kept when a failed batch is written again)."""
        if not self.database.is_sqlite:
            async with self.database.engine.begin() as connection:
                waiting = [row for row in rows if "id" not in row]
                if waiting:
                    # Taken in their own statement before the insert: a batch whose insert fails keeps its
                    # ids, so writing it again cannot duplicate the rows that did land.
                    ids = await connection.execute(_NEXT_IDS, {"count": len(waiting)})
                    for row, (value,) in zip(waiting, ids.all(), strict=True):
                        row["id"] = int(value)
                # A batch written again after a failure may hold rows that did land: skip those.
                skip_landed = pg_insert(RequestLog.__table__).on_conflict_do_nothing(index_elements=["id"])  # type: ignore[arg-type]
                await connection.execute(skip_landed, [_columns(row) for row in rows])
            return
        for row in rows:
            if "id" not in row:
                row["id"] = self._next_id
                self._next_id += 1
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


_NEXT_IDS = text(
    "SELECT nextval(pg_get_serial_sequence('request_logs', 'id')) FROM generate_series(1, :count)"
)


def _columns(row: LogRow) -> LogRow:
    values = {name: row.get(name) for name in LOG_COLUMNS}
    values["created_at"] = row_time(row)
    return values
