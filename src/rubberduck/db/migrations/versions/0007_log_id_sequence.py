"""log row ids from the table's sequence on Postgres: bring the sequence past the ids already written

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07

Rows used to get their ids from the writing process (the highest id + 1), which never advanced the
sequence; nodes now take ids from it, and would otherwise be handed ids that are taken.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite has one writer, which still counts on from the highest id
    op.execute(
        "SELECT setval(pg_get_serial_sequence('request_logs', 'id'), "
        "COALESCE((SELECT max(id) FROM request_logs), 0) + 1, false)"
    )


def downgrade() -> None:
    pass  # a sequence ahead of the ids is harmless
