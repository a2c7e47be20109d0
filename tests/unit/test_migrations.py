from __future__ import annotations

import asyncio
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from rubberduck.db.database import Database
from rubberduck.db.migrate import upgrade_to_head
from rubberduck.db.models import Base


def test_migrations_build_exactly_the_models(tmp_path: Path) -> None:
    """A model change without its migration (or the reverse) fails here, not on a user's database."""
    path = tmp_path / "m.db"
    database = Database(f"sqlite+aiosqlite:///{path}")
    asyncio.run(upgrade_to_head(database))
    asyncio.run(database.dispose())
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    engine.dispose()
