"""Test helpers: a real `rubberduck serve` process and a small client for its API."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

if TYPE_CHECKING:
    from tests.engines import PostgresServer, RedisServer

PASSWORD = "correct-horse-battery"
_proxy_names = itertools.count(1)

# The suite registers users freely on shared servers; tests of the product's own defaults (first account
# only, verification required) start their process with `product_accounts=True`.
RELAXED_ACCOUNTS_ENV = {"RUBBERDUCK_REGISTRATION": "open", "RUBBERDUCK_REQUIRE_VERIFICATION": "false"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Proxy ports come from below Linux's ephemeral range (32768+), where client sockets and free_port()
# never land, in a range of its own per xdist worker: a port the server found free when a proxy was
# created is still free when it starts. Block 0 of a worker is the shared server's (it makes hundreds
# of proxies over a session); the others go round the remaining blocks.
PROXY_PORTS_PER_WORKER = 5000
PROXY_PORT_BLOCK = 1000
_proxy_blocks = itertools.count(1)


def proxy_port_block(shared: bool = False) -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    base = 10000 + (int(worker) if worker.isdigit() else 0) % 4 * PROXY_PORTS_PER_WORKER
    blocks = PROXY_PORTS_PER_WORKER // PROXY_PORT_BLOCK
    block = 0 if shared else 1 + next(_proxy_blocks) % (blocks - 1)
    return base + block * PROXY_PORT_BLOCK


# ---- Which database a server uses. By default SQLite in its data dir. With RUBBERDUCK_TEST_DATABASE=postgres,
# a database of its own on one throw-away PostgresServer per test process (each xdist worker has one), and
# with RUBBERDUCK_TEST_REDIS=1 also a redis-server of its own: Redis pub/sub channels are not scoped by
# database number, so servers sharing one Redis would hear each other's config pushes.
_postgres: list[PostgresServer] = []
_redis: list[RedisServer] = []
# data dir -> the engines' URLs, so a restart on the same data dir and `user create` find the same ones.
_engine_env: dict[Path, dict[str, str]] = {}


def on_postgres() -> bool:
    return os.environ.get("RUBBERDUCK_TEST_DATABASE", "sqlite") == "postgres"


def shared_postgres() -> PostgresServer:
    """This test process's PostgresServer, started on first use (stop_test_engines ends it)."""
    from tests.engines import PostgresServer

    if not _postgres:
        _postgres.append(PostgresServer().start())
    return _postgres[0]


def engine_env(data_dir: Path, given: dict[str, str] | None = None) -> dict[str, str]:
    """The RUBBERDUCK_DATABASE_URL / RUBBERDUCK_REDIS_URL of the server on this data dir ({} for SQLite).

    What the test gave explicitly wins and is remembered; a variable set to "" means the product's default.
    """
    key = data_dir.resolve()
    known = _engine_env.setdefault(key, {})
    for name in ("RUBBERDUCK_DATABASE_URL", "RUBBERDUCK_REDIS_URL"):
        if given is not None and name in given:
            known[name] = given[name]
    if on_postgres() and "RUBBERDUCK_DATABASE_URL" not in known:
        known["RUBBERDUCK_DATABASE_URL"] = shared_postgres().database()
    if (
        on_postgres()
        and os.environ.get("RUBBERDUCK_TEST_REDIS") == "1"
        and "RUBBERDUCK_REDIS_URL" not in known
    ):
        from tests.engines import RedisServer

        _redis.append(RedisServer().start())
        known["RUBBERDUCK_REDIS_URL"] = _redis[-1].url
    return dict(known)


def stop_test_engines() -> None:
    for redis in _redis:
        redis.destroy()
    for postgres in _postgres:
        postgres.destroy()
    _redis.clear()
    _postgres.clear()
    _engine_env.clear()


class RubberduckProcess:
    """`python -m rubberduck serve` on a free port with its own data dir; output goes to a file."""

    def __init__(
        self,
        data_dir: Path,
        first_proxy_port: int | None = None,
        env: dict[str, str] | None = None,
        product_accounts: bool = False,
    ):
        self.data_dir = data_dir
        self.port = free_port()
        self.first_proxy_port = first_proxy_port or proxy_port_block()
        self.extra_env = {**({} if product_accounts else RELAXED_ACCOUNTS_ENV), **(env or {})}
        self.extra_env.update(engine_env(data_dir, env))
        self.log_path = data_dir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL of the server's database (its own Postgres database, or its SQLite file)."""
        return self.extra_env.get("RUBBERDUCK_DATABASE_URL") or sqlite_url(self.data_dir)

    def start(self) -> RubberduckProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "RUBBERDUCK_FIRST_PROXY_PORT": str(self.first_proxy_port),
            "RUBBERDUCK_GRACEFUL_STOP_SECONDS": "10",
            **self.extra_env,
        }
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "rubberduck",
                "serve",
                "--port",
                str(self.port),
                "--data-dir",
                str(self.data_dir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"rubberduck exited early:\n{self.log_path.read_text()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"rubberduck did not become healthy:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{data_dir.resolve() / 'rubberduck.db'}"


def database_rows(process: RubberduckProcess, statement: str, **params: Any) -> list[dict[str, Any]]:
    """Rows of a SQL query (`:name` parameters) on the server's database, whichever it is."""

    async def query() -> list[dict[str, Any]]:
        engine = create_async_engine(process.database_url, poolclass=NullPool)
        try:
            async with engine.connect() as connection:
                result = await connection.execute(text(statement), params)
                return [dict(row) for row in result.mappings()]
        finally:
            await engine.dispose()

    return asyncio.run(query())


def stored_bytes(process: RubberduckProcess) -> bytes:
    """Everything the server's database holds, as bytes to search: SQLite's files, or a Postgres dump with
    its binary columns decoded (a dump spells them in hex)."""
    if not process.database_url.startswith("postgresql"):
        files = [path for path in process.data_dir.iterdir() if path.name.startswith("rubberduck.db")]
        return b"".join(path.read_bytes() for path in files)
    from tests.engines import _postgres_bin

    binaries = _postgres_bin()
    assert binaries is not None, "pg_dump comes with Debian's postgresql (make engines)"
    url = make_url(process.database_url)
    dump = subprocess.run(
        [str(binaries / "pg_dump"), "--data-only", "-h", str(url.host), "-p", str(url.port),
         "-U", str(url.username), str(url.database)],
        check=True, capture_output=True, timeout=60,
    ).stdout  # fmt: skip
    binary = b"".join(bytes.fromhex(digits.decode()) for digits in re.findall(rb"\\\\x([0-9a-f]+)", dump))
    return dump + binary


def create_user_cli(data_dir: Path, email: str, superuser: bool = False) -> None:
    """`rubberduck user create` on a data dir (the documented first-setup path): a verified user.

    It uses the database of the server on that data dir, as its operator would with the same environment.
    """
    flags = ["--superuser"] if superuser else []
    subprocess.run(
        [sys.executable, "-m", "rubberduck", "user", "create", "--email", email, "--password", PASSWORD,
         *flags, "--data-dir", str(data_dir)],
        check=True, capture_output=True, timeout=60, env={**os.environ, **engine_env(data_dir)},
    )  # fmt: skip


class Api:
    """The control-plane API as one user sees it."""

    def __init__(self, base_url: str, token: str | None = None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=60)

    @classmethod
    def new_user(cls, base_url: str, email: str) -> Api:
        anonymous = httpx.Client(base_url=base_url, timeout=30)
        response = anonymous.post("/api/auth/register", json={"email": email, "password": PASSWORD})
        assert response.status_code == 201, response.text
        anonymous.close()
        return cls.login(base_url, email)

    @classmethod
    def login(cls, base_url: str, email: str, password: str = PASSWORD) -> Api:
        response = httpx.post(
            base_url + "/api/auth/jwt/login", data={"username": email, "password": password}
        )
        assert response.status_code == 200, response.text
        return cls(base_url, response.json()["access_token"])

    def set_failure(self, proxy_id: int, **config: Any) -> dict[str, Any]:
        response = self.http.put(f"/api/proxies/{proxy_id}/failure", json=config)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def create_proxy(self, **fields: Any) -> dict[str, Any]:
        fields.setdefault("name", f"test proxy {next(_proxy_names)}")  # a user's proxy names are unique
        response = self.http.post("/api/proxies", json=fields)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def start(self, proxy_id: int) -> dict[str, Any]:
        response = self.http.post(f"/api/proxies/{proxy_id}/start")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def stop(self, proxy_id: int, force: bool = False) -> dict[str, Any]:
        response = self.http.post(f"/api/proxies/{proxy_id}/stop", params={"force": str(force).lower()})
        assert response.status_code == 200, response.text
        return dict(response.json())

    def running_proxy(self, provider: str, upstream_url: str, **fields: Any) -> dict[str, Any]:
        proxy = self.create_proxy(provider=provider, upstream_url=upstream_url, **fields)
        started = self.start(proxy["id"])
        assert started["status"] == "running", started
        return started


def proxy_url(proxy: dict[str, Any]) -> str:
    return f"http://127.0.0.1:{proxy['port']}"
