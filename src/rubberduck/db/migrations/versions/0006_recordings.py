"""recordings: cache entries per namespace and occurrence, with their request and timing; proxy cache config

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import fastapi_users_db_sqlalchemy.generics
import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = fastapi_users_db_sqlalchemy.generics.TIMESTAMPAware(timezone=True)
_KEPT = ("proxy_id", "key", "status", "headers", "body", "stream", "size", "created_at")


def _entries_table(name: str) -> None:
    op.create_table(
        name,
        sa.Column("proxy_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("occurrence", sa.Integer(), nullable=False),
        sa.Column("namespace", sa.String(length=200), nullable=False, server_default=""),
        sa.Column("operation", sa.String(length=100), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("stream", sa.Boolean(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("request", sa.JSON(), nullable=True),
        sa.Column("ignored", sa.JSON(), nullable=False),
        sa.Column("offsets", sa.JSON(), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("expires_at", _TIME, nullable=True),
        sa.Column("hits", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_hit_at", _TIME, nullable=True),
        sa.ForeignKeyConstraint(["proxy_id"], ["proxies.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("proxy_id", "key", "occurrence"),
    )


def upgrade() -> None:
    with op.batch_alter_table("proxies") as batch_op:
        batch_op.add_column(sa.Column("cache", sa.JSON(), nullable=False, server_default="{}"))
    # The primary key gains `occurrence`: a new table, the entries copied over as first occurrences in
    # the default namespace (their keys are unchanged, so they keep answering).
    _entries_table("cache_entries_new")
    columns = ", ".join(_KEPT)
    op.execute(
        f"INSERT INTO cache_entries_new ({columns}, occurrence, namespace, ignored, hits) "
        f"SELECT {columns}, 1, '', '[]', 0 FROM cache_entries"
    )
    op.drop_table("cache_entries")
    op.rename_table("cache_entries_new", "cache_entries")
    op.create_index("ix_cache_entries_namespace", "cache_entries", ["proxy_id", "namespace", "operation"])


def downgrade() -> None:
    op.drop_index("ix_cache_entries_namespace", table_name="cache_entries")
    op.create_table(
        "cache_entries_old",
        sa.Column("proxy_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("stream", sa.Boolean(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(["proxy_id"], ["proxies.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("proxy_id", "key"),
    )
    columns = ", ".join(_KEPT)
    op.execute(
        f"INSERT INTO cache_entries_old ({columns}) SELECT {columns} FROM cache_entries "
        "WHERE occurrence = 1 AND namespace = ''"
    )
    op.drop_table("cache_entries")
    op.rename_table("cache_entries_old", "cache_entries")
    with op.batch_alter_table("proxies") as batch_op:
        batch_op.drop_column("cache")
