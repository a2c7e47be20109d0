"""Apply Alembic migrations programmatically at start-up, on the server's own engine."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

from rubberduck.db.database import Database

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        config.set_main_option("sqlalchemy.url", url)
    return config


# Any constant: the key of the Postgres advisory lock nodes take to migrate one at a time.
_MIGRATION_LOCK = 0x7275626265726475  # "rubberdu"


async def upgrade_to_head(database: Database) -> None:
    def run(connection: Connection) -> None:
        if connection.dialect.name == "postgresql":
            # Nodes starting together would each create the same tables: the first migrates while the
            # others wait here, then find the database at head (held until this transaction ends).
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    # Without the per-statement bound: building an index over a big table may take minutes.
    engine = database.unbounded_engine()
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run)
    finally:
        if engine is not database.engine:
            await engine.dispose()
