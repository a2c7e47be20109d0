"""Server-wide settings stored as one JSON value per key."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from rubberduck.db.database import Database
from rubberduck.db.models import AppSetting


async def load_setting(database: Database, key: str) -> dict[str, Any] | None:
    async with database.session() as session:
        row = await session.get(AppSetting, key)
        return dict(row.value) if row is not None else None


async def save_setting(database: Database, key: str, value: dict[str, Any]) -> None:
    # One upsert: two nodes saving the same key at once must not fail on the primary key (read-then-insert would).
    insert = pg_insert if database.dialect == "postgresql" else sqlite_insert
    statement = insert(AppSetting).values(key=key, value=value, updated_at=datetime.now(UTC))
    statement = statement.on_conflict_do_update(
        index_elements=["key"],
        set_={"value": statement.excluded.value, "updated_at": statement.excluded.updated_at},
    )
    async with database.session() as session:
        await session.execute(statement)
        await session.commit()
