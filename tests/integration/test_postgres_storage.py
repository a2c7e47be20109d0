"""The database layer on a real Postgres: migrations from empty, log ids from several nodes, the shared secret."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, func, select, text

from rubberduck.db.database import Database
from rubberduck.db.migrate import alembic_config, upgrade_to_head
from rubberduck.db.models import Base, RequestLog
from rubberduck.db.secret_store import resolve_secret
from rubberduck.db.settings_store import load_setting, save_setting
from rubberduck.settings import Settings
from rubberduck.telemetry.logstore import LogStore
from rubberduck.telemetry.sqlite_rows import LogRow
from tests.engines import PostgresServer, engines_available

pytestmark = pytest.mark.skipif(engines_available() is not None, reason=f"needs {engines_available()}")


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    yield server
    server.destroy()


def log_row(proxy_id: int, n: int) -> LogRow:
    return {
        "created_at": time.time(),
        "proxy_id": proxy_id,
        "user_id": uuid.uuid4(),
        "method": "POST",
        "path": f"/v1/chat/completions?n={n}",
        "stream": False,
        "status": 200,
        "latency_ms": 1.5,
        "cache_status": "miss",
    }


async def test_migrations_from_empty_build_exactly_the_models(postgres: PostgresServer) -> None:
    """Every migration runs on Postgres, and the result is the models (types, indexes, defaults) exactly."""
    database = Database(postgres.database())
    try:
        await upgrade_to_head(database)
        await upgrade_to_head(database)  # at head: nothing to do, nothing fails

        def differences(connection: Connection) -> list[Any]:
            return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))

        async with database.engine.connect() as connection:
            assert await connection.run_sync(differences) == []
    finally:
        await database.dispose()


async def test_nodes_starting_together_migrate_once(postgres: PostgresServer) -> None:
    url = postgres.database()
    nodes = [Database(url) for _ in range(3)]
    try:
        await asyncio.gather(*(upgrade_to_head(node) for node in nodes))  # no "relation already exists"
        async with nodes[0].engine.connect() as connection:
            version = await connection.scalar(text("SELECT version_num FROM alembic_version"))
        assert version == ScriptDirectory.from_config(alembic_config()).get_current_head()
    finally:
        for node in nodes:
            await node.dispose()


async def test_two_log_stores_interleaving_batches_never_collide(postgres: PostgresServer) -> None:
    """Two nodes write the same table at once: every row lands, each with its own id."""
    url = postgres.database()
    nodes = [Database(url), Database(url)]
    await upgrade_to_head(nodes[0])
    stores = [LogStore(node) for node in nodes]
    try:
        for store in stores:
            await store.prepare()

        async def write(store: LogStore, proxy_id: int) -> list[int]:
            ids: list[int] = []
            for batch in range(20):
                rows = [log_row(proxy_id, batch * 10 + n) for n in range(10)]
                await store.insert(rows)
                ids += [int(row["id"]) for row in rows]
            return ids

        first, second = await asyncio.gather(write(stores[0], 1), write(stores[1], 2))
        assert len(set(first) | set(second)) == 400  # no id given twice, within or across nodes
        async with nodes[1].session() as session:
            counts = dict(
                (
                    await session.execute(
                        select(RequestLog.proxy_id, func.count()).group_by(RequestLog.proxy_id)
                    )
                ).all()
            )
        assert counts == {1: 200, 2: 200}
        # A batch written again (its insert's answer was lost) keeps its ids: nothing doubles.
        again = [log_row(3, 0), log_row(3, 1)]
        await stores[0].insert(again)
        await stores[1].insert(again)
        async with nodes[0].session() as session:
            assert await session.scalar(select(func.count()).where(RequestLog.proxy_id == 3)) == 2
    finally:
        for store in stores:
            await store.close()
        for node in nodes:
            await node.dispose()


async def test_ids_written_before_the_sequence_was_used_are_not_handed_out_again(
    postgres: PostgresServer,
) -> None:
    """Rows written by an older version (ids counted by the process, sequence untouched) are skipped past."""
    database = Database(postgres.database())
    try:

        def to_0006(connection: Connection) -> None:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "0006")

        async with database.engine.begin() as connection:
            await connection.run_sync(to_0006)
        old = [{**log_row(1, n), "id": n + 1} for n in range(5)]
        await LogStore(database).insert(old)  # explicit ids 1..5, as the old writer chose them
        await upgrade_to_head(database)
        fresh = [log_row(1, 10 + n) for n in range(3)]
        await LogStore(database).insert(fresh)
        assert min(int(row["id"]) for row in fresh) > 5
        async with database.session() as session:
            assert await session.scalar(select(func.count()).select_from(RequestLog)) == 8
    finally:
        await database.dispose()


async def test_the_secret_is_generated_once_and_shared_by_every_node(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    url = postgres.database()
    nodes = [Database(url) for _ in range(4)]
    await upgrade_to_head(nodes[0])
    try:
        settings = [Settings(database_url=url, data_dir=tmp_path / f"node{n}") for n in range(4)]
        secrets = await asyncio.gather(
            *(resolve_secret(s, node) for s, node in zip(settings, nodes, strict=True))
        )
        assert len(set(secrets)) == 1 and len(secrets[0]) >= 48
        assert not any((s.data_dir / "secret.key").exists() for s in settings)  # kept in the database only
        # Read back, not regenerated, by a later node; RUBBERDUCK_SECRET still wins where it is set.
        assert await resolve_secret(settings[0], nodes[1]) == secrets[0]
        given = Settings(database_url=url, data_dir=tmp_path / "given", secret="configured-secret-0123456789")
        assert await resolve_secret(given, nodes[2]) == "configured-secret-0123456789"
    finally:
        for node in nodes:
            await node.dispose()


async def test_a_single_nodes_secret_file_becomes_the_shared_one(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    """A server that ran on Postgres alone (secret in its data dir) keeps its users' tokens valid."""
    url = postgres.database()
    database = Database(url)
    await upgrade_to_head(database)
    try:
        data_dir = tmp_path / "data"
        data_dir.mkdir()
        (data_dir / "secret.key").write_text("the-old-single-node-secret\n")
        assert await resolve_secret(Settings(database_url=url, data_dir=data_dir), database) == (
            "the-old-single-node-secret"
        )
        other = Settings(database_url=url, data_dir=tmp_path / "other")
        assert await resolve_secret(other, database) == "the-old-single-node-secret"
    finally:
        await database.dispose()


async def test_settings_saved_by_two_nodes_at_once_both_succeed(postgres: PostgresServer) -> None:
    url = postgres.database()
    nodes = [Database(url) for _ in range(2)]
    await upgrade_to_head(nodes[0])
    try:
        for attempt in range(10):  # a read-then-insert would fail on the key now and then
            values = [{"n": attempt, "node": n} for n in range(2)]
            await asyncio.gather(
                *(save_setting(node, f"k{attempt}", v) for node, v in zip(nodes, values, strict=True))
            )
            assert await load_setting(nodes[0], f"k{attempt}") in values
    finally:
        for node in nodes:
            await node.dispose()
