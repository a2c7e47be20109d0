"""Server-wide settings stored as one JSON value per key."""

from __future__ import annotations

from typing import Any

from rubberduck.db.database import Database
from rubberduck.db.models import AppSetting


async def load_setting(database: Database, key: str) -> dict[str, Any] | None:
    async with database.session() as session:
        row = await session.get(AppSetting, key)
        return dict(row.value) if row is not None else None


async def save_setting(database: Database, key: str, value: dict[str, Any]) -> None:
    async with database.session() as session:
        row = await session.get(AppSetting, key)
        if row is None:
            session.add(AppSetting(key=key, value=value))
        else:
            row.value = value
        await session.commit()
