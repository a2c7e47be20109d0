"""Migration 0004 on a database that already has users, proxies and cached responses."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine, event

from rubberduck.db.migrate import alembic_config


def _upgrade(path: Path, revision: str) -> None:
    engine = create_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _foreign_keys(connection: sqlite3.Connection, _record: object) -> None:
        connection.execute("PRAGMA foreign_keys=ON")  # as the server runs it: cascades are live

    with engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    engine.dispose()


def test_0004_keeps_existing_users_proxies_and_cache(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _upgrade(path, "0003")
    user_id = uuid.uuid4().hex
    with sqlite3.connect(path) as db:
        db.execute(
            "insert into users (id, email, hashed_password, is_active, is_superuser, is_verified, created_at)"
            " values (?, 'old@example.com', 'x', 1, 0, 1, '2026-01-01 00:00:00')",
            (user_id,),
        )
        db.execute(
            "insert into proxies (id, owner_id, name, provider, tags, port, options, failure, status,"
            " desired_running, created_at, updated_at) values (7, ?, 'p', 'openai', '[]', 8123, '{}', '{}',"
            " 'stopped', 0, '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
            (user_id,),
        )
        db.execute(
            "insert into cache_entries (proxy_id, key, status, headers, body, stream, size, created_at)"
            " values (7, 'k', 200, '[]', x'00', 0, 1, '2026-01-01 00:00:00')"
        )
    _upgrade(path, "head")
    with sqlite3.connect(path) as db:
        assert db.execute("select session_generation from users").fetchall() == [(0,)]
        assert db.execute("select id from proxies").fetchall() == [(7,)]
        assert db.execute("select count(*) from cache_entries").fetchone() == (1,)
        tables = {row[0] for row in db.execute("select name from sqlite_master where type = 'table'")}
    assert {"oauth_accounts", "revoked_tokens"} <= tables
