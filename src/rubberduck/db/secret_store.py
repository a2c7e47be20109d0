"""The key login tokens are signed with, when RUBBERDUCK_SECRET is not set.

On SQLite (one server) it is generated once into the data dir. On a database server several nodes share,
a file per node would give each its own key, and a token issued by one node would be refused by the next:
so the first node to start generates it into the database, and every node reads that one back.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from rubberduck.db.database import Database
from rubberduck.db.models import AppSetting
from rubberduck.settings import Settings

SECRET_KEY = "signing_secret"


async def resolve_secret(settings: Settings, database: Database) -> str:
    """RUBBERDUCK_SECRET, else the data dir's on SQLite, else the database's (created once). After migrations."""
    if settings.secret:
        return settings.secret
    if database.is_sqlite:
        return settings.resolved_secret()
    # A node that ran alone before keeps its tokens valid: its file's secret is offered first.
    kept = settings.data_dir / "secret.key"
    offered = kept.read_text().strip() if kept.is_file() else ""
    return await shared_secret(database, offered or secrets.token_urlsafe(48))


async def shared_secret(database: Database, candidate: str) -> str:
    """The secret in the database; `candidate` becomes it if there is none yet. Race-safe: of nodes starting
    at once, exactly one insert lands (the others' do nothing) and every node reads back the same value."""
    insert = pg_insert if database.dialect == "postgresql" else sqlite_insert
    statement = insert(AppSetting).values(key=SECRET_KEY, value={"value": candidate})
    async with database.session() as session:
        await session.execute(statement.on_conflict_do_nothing(index_elements=["key"]))
        await session.commit()
        stored = await session.scalar(select(AppSetting.value).where(AppSetting.key == SECRET_KEY))
    value = (stored or {}).get("value")
    if not isinstance(value, str) or not value:
        raise RuntimeError(
            f"the database's {SECRET_KEY!r} setting holds no secret: delete the row to regenerate"
        )
    return value
