"""Migration 0005 on a database where one user already has several proxies of the same name."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import pytest

from tests.unit.test_accounts_migration import _upgrade


def _user(db: sqlite3.Connection, email: str) -> str:
    user_id = uuid.uuid4().hex
    db.execute(
        "insert into users (id, email, hashed_password, is_active, is_superuser, is_verified, created_at,"
        " session_generation) values (?, ?, 'x', 1, 0, 1, '2026-01-01 00:00:00', 0)",
        (user_id, email),
    )
    return user_id


def _proxy(db: sqlite3.Connection, proxy_id: int, owner: str, name: str) -> None:
    db.execute(
        "insert into proxies (id, owner_id, name, provider, tags, port, options, failure, status,"
        " desired_running, created_at, updated_at) values (?, ?, ?, 'openai', '[]', ?, '{}', '{}',"
        " 'stopped', 0, '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
        (proxy_id, owner, name, 9000 + proxy_id),
    )


def test_0005_renames_a_users_duplicate_names_and_then_refuses_them(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _upgrade(path, "0004")
    long_name = "x" * 200
    with sqlite3.connect(path) as db:
        alice, bob = _user(db, "a@example.com"), _user(db, "b@example.com")
        for proxy_id, owner, name in [
            (1, alice, "dev"), (2, alice, "dev"), (3, alice, "dev (2)"), (4, alice, "dev"),
            (5, bob, "dev"), (6, alice, long_name), (7, alice, long_name),
        ]:  # fmt: skip
            _proxy(db, proxy_id, owner, name)
        db.execute(
            "insert into cache_entries (proxy_id, key, status, headers, body, stream, size, created_at)"
            " values (2, 'k', 200, '[]', x'00', 0, 1, '2026-01-01 00:00:00')"
        )
    _upgrade(path, "head")
    with sqlite3.connect(path) as db:
        names = dict(db.execute("select id, name from proxies").fetchall())
        assert names == {
            1: "dev", 2: "dev (3)", 3: "dev (2)", 4: "dev (4)", 5: "dev", 6: long_name,
            7: "x" * 196 + " (2)",
        }  # fmt: skip
        assert db.execute("select count(*) from cache_entries").fetchone() == (1,)  # nothing rebuilt
        with pytest.raises(sqlite3.IntegrityError):
            _proxy(db, 8, alice, "dev")
        _proxy(db, 9, bob, "dev (2)")
