"""Alembic environment: runs on the connection handed over by rubberduck.db.migrate."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, engine_from_config, pool

from rubberduck.db.models import Base

config = context.config
target_metadata = Base.metadata


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run_on(connection)
else:  # the alembic CLI, used by developers to autogenerate revisions
    engine = engine_from_config(config.get_section(config.config_ini_section) or {}, poolclass=pool.NullPool)
    with engine.connect() as conn:
        run_on(conn)
