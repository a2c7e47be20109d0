"""proxy names unique per owner

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME_LENGTH = 200


def _rename_duplicates() -> None:
    """Names were not unique before: the oldest proxy keeps its name, later ones become `name (2)`…

    A new name never takes one that another proxy of the same owner already has.
    """
    proxies = sa.table("proxies", sa.column("id", sa.Integer), sa.column("owner_id"), sa.column("name"))
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(proxies.c.id, proxies.c.owner_id, proxies.c.name).order_by(proxies.c.id)
    ).all()
    taken: set[tuple[object, str]] = set()
    duplicates: list[tuple[int, object, str]] = []
    for proxy_id, owner, name in rows:
        if (owner, name) in taken:
            duplicates.append((proxy_id, owner, name))
        taken.add((owner, name))
    for proxy_id, owner, name in duplicates:
        number = 2
        while True:
            suffix = f" ({number})"
            candidate = name[: NAME_LENGTH - len(suffix)] + suffix
            if (owner, candidate) not in taken:
                break
            number += 1
        taken.add((owner, candidate))
        connection.execute(proxies.update().where(proxies.c.id == proxy_id).values(name=candidate))


def upgrade() -> None:
    _rename_duplicates()
    # An index, not a table constraint: on SQLite a constraint means rebuilding `proxies`, and the
    # rebuild would cascade-delete every proxy's cache entries.
    op.create_index("uq_proxies_owner_name", "proxies", ["owner_id", "name"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_proxies_owner_name", table_name="proxies")
