"""Postgres stopped, hung or shared by two servers: bounded waits, a clear 503, recovery, one secret.

Each test has its own PostgresServer: they stop and freeze it, which must never touch another test's.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import HTTPException
from fastapi_users_db_sqlalchemy import SQLAlchemyUserDatabase
from sqlalchemy import select, text
from starlette.requests import Request

from rubberduck.auth.email import ConsoleMailer, Outbox
from rubberduck.auth.policy import PolicyStore
from rubberduck.auth.schemas import UserCreate
from rubberduck.auth.users import AccountHooks, UserManager
from rubberduck.cache.entry import CachedResponse
from rubberduck.cache.protocol import EntryFilter
from rubberduck.cache.sqlstore import SqlCacheStore
from rubberduck.db import database as database_module
from rubberduck.db.database import Database, DatabaseUnavailable
from rubberduck.db.migrate import upgrade_to_head
from rubberduck.db.models import Proxy, User
from rubberduck.faults.stages import GlobalIPFilter
from rubberduck.settings import Settings
from tests.engines import PostgresServer, engines_available
from tests.support import PASSWORD, Api, RubberduckProcess

pytestmark = pytest.mark.skipif(engines_available() is not None, reason=f"needs {engines_available()}")
UNAVAILABLE = "The database is unavailable: "


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    yield server
    server.destroy()


@contextmanager
def frozen(server: PostgresServer) -> Iterator[None]:
    """Every process of this server stopped (SIGSTOP): it accepts connections and never answers."""
    postmaster = int((server.data / "postmaster.pid").read_text().split()[0])
    listed = subprocess.run(["ps", "-o", "pid=", "--ppid", str(postmaster)], capture_output=True, text=True)
    pids = [postmaster, *(int(pid) for pid in listed.stdout.split())]
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


def entry(key: str) -> CachedResponse:
    return CachedResponse(200, [(b"content-type", b"application/json")], (b'{"ok": true}',), False, key=key)


async def seeded_store(url: str) -> tuple[Database, SqlCacheStore]:
    database = Database(url)
    await upgrade_to_head(database)
    async with database.session() as session:
        owner = User(email="o@example.com", hashed_password="x", is_active=True, is_verified=True)
        session.add(owner)
        await session.flush()
        session.add(Proxy(id=1, owner_id=owner.id, name="p", provider="openai", port=1))
        await session.commit()
    store = SqlCacheStore(database)
    await store.put(1, entry("a" * 64))
    return database, store


async def bounded(call: Awaitable[object], limit: float) -> DatabaseUnavailable:
    """The call fails with DatabaseUnavailable within `limit` seconds; that exception."""
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable) as failure:
        await call
    assert time.monotonic() - started < limit, f"took {time.monotonic() - started:.1f} s"
    return failure.value


async def test_cache_store_calls_fail_fast_while_postgres_is_stopped(postgres: PostgresServer) -> None:
    database, store = await seeded_store(postgres.database())
    try:
        assert (await store.get(1, "a" * 64)) is not None  # the pool holds a live connection now
        postgres.stop()
        calls: list[Callable[[], Awaitable[object]]] = [
            lambda: store.get(1, "a" * 64),
            lambda: store.put(1, entry("b" * 64)),
            lambda: store.clear(1),
            lambda: store.page(1, EntryFilter(), 10, None),
            lambda: store.add_hits({(1, "a" * 64, 1): (1, time.time())}),
        ]
        for call in calls:
            assert (await bounded(call(), 3.5)).reason == "connection refused"
        postgres.resume()
        assert (await store.get(1, "a" * 64)) is not None  # the pool reconnects by itself
    finally:
        await database.dispose()


async def test_calls_are_bounded_when_postgres_hangs(
    postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that accepts connections and never answers: a pooled connection is pinged and replaced, a new
    one gives up connecting, a statement under way gives up waiting (its bound is shortened here to keep the
    test quick; the mechanism is the same)."""
    monkeypatch.setattr(database_module, "STATEMENT_TIMEOUT_SECONDS", 1.0)
    url = postgres.database()
    database, store = await seeded_store(url)
    fresh = Database(url)
    ping, connect = database_module.PING_TIMEOUT_SECONDS, database_module.CONNECT_TIMEOUT_SECONDS
    try:
        assert (await store.get(1, "a" * 64)) is not None
        async with database.session() as session:
            await session.execute(text("SELECT 1"))  # this session holds its connection from here on
            with frozen(postgres):
                await bounded(store.get(1, "a" * 64), ping + connect + 1.5)
                await bounded(SqlCacheStore(fresh).get(1, "a" * 64), connect + 1.5)
                # asyncpg's close of the timed-out connection waits up to 2 s before it terminates it
                await bounded(session.execute(text("SELECT 1")), 1.0 + 2.0 + 1.5)
        assert (await store.get(1, "a" * 64)) is not None
    finally:
        await database.dispose()
        await fresh.dispose()


def test_the_api_answers_503_while_postgres_is_down_then_recovers(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    process = RubberduckProcess(
        tmp_path / "data", env={"RUBBERDUCK_DATABASE_URL": postgres.database()}
    ).start()
    try:
        api = Api.new_user(process.url, "outage@example.com")
        created = api.create_proxy(provider="openai")
        postgres.stop()
        for method, path, body in (
            ("GET", "/api/proxies", None),
            ("GET", f"/api/proxies/{created['id']}", None),
            ("POST", "/api/proxies", {"provider": "openai", "name": "during the outage"}),
            ("GET", "/api/logs", None),
        ):
            started = time.monotonic()
            answer = api.http.request(method, path, json=body, timeout=10)
            elapsed = time.monotonic() - started
            assert answer.status_code == 503, (path, answer.status_code, answer.text)
            assert answer.json()["detail"].startswith(UNAVAILABLE), answer.text
            assert elapsed < 3.5, (path, elapsed)
        login = httpx.post(
            process.url + "/api/auth/jwt/login", data={"username": "outage@example.com", "password": PASSWORD}
        )
        assert login.status_code == 503 and login.json()["detail"].startswith(UNAVAILABLE)
        assert PASSWORD not in process.output()
        postgres.resume()
        # Nothing to restart: the next request gets a new connection, the same token still works.
        assert api.http.get(f"/api/proxies/{created['id']}").status_code == 200
        assert api.create_proxy(provider="anthropic")["provider"] == "anthropic"
        assert Api.login(process.url, "outage@example.com").http.get("/api/users/me").status_code == 200
    finally:
        process.stop()


def test_two_servers_on_one_database_share_the_generated_secret(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    """RUBBERDUCK_SECRET unset: a token issued by one node is valid on the other, and logout ends it on both."""
    url = postgres.database()
    env = {"RUBBERDUCK_DATABASE_URL": url, "RUBBERDUCK_SECRET": ""}
    first = RubberduckProcess(tmp_path / "a", env=env)
    second = RubberduckProcess(tmp_path / "b", env=env)
    first.start()
    try:
        second.start()
        try:
            on_first = Api.new_user(first.url, "both@example.com")
            token = on_first.http.headers["authorization"]
            on_second = httpx.Client(base_url=second.url, headers={"Authorization": token}, timeout=30)
            assert on_second.get("/api/users/me").json()["email"] == "both@example.com"
            assert (
                not (tmp_path / "a" / "secret.key").exists() and not (tmp_path / "b" / "secret.key").exists()
            )
            assert on_first.http.post("/api/auth/jwt/logout").status_code == 204
            assert on_second.get("/api/users/me").status_code == 401
        finally:
            second.stop()
    finally:
        first.stop()
    # A restarted node reads the same secret back: the token it issued before still works.
    first.start()
    try:
        again = Api.login(first.url, "both@example.com")
        token = again.http.headers["authorization"]
        first.stop()
        first.start()
        assert httpx.get(first.url + "/api/users/me", headers={"Authorization": token}).status_code == 200
    finally:
        first.stop()


async def test_first_registrations_on_two_nodes_make_one_superuser(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    """Each node serialises its own registrations; the database must serialise them across nodes."""
    url = postgres.database()
    nodes = [Database(url), Database(url)]
    await upgrade_to_head(nodes[0])
    request = Request({"type": "http", "method": "POST", "path": "/api/auth/register", "headers": []})
    settings = Settings(data_dir=tmp_path, database_url=url, require_verification=False)
    hooks = [  # one per node: separate in-process locks
        AccountHooks(PolicyStore(settings, node, GlobalIPFilter()), Outbox(ConsoleMailer()), "http://x")
        for node in nodes
    ]

    async def register(index: int) -> bool:
        node = index % 2
        async with nodes[node].session() as session:
            manager = UserManager(SQLAlchemyUserDatabase(session, User), "secret", hooks[node])
            try:
                await manager.create(
                    UserCreate(email=f"u{index}@example.com", password="long-enough-1"), True, request
                )
            except HTTPException as exc:
                assert exc.detail == "REGISTRATION_CLOSED"
                return False
            return True

    try:
        created = await asyncio.gather(*(register(index) for index in range(6)))
        assert sum(created) == 1
        async with nodes[0].session() as session:
            users = (await session.scalars(select(User))).all()
        assert [user.is_superuser for user in users] == [True]
    finally:
        for node in nodes:
            await node.dispose()
