"""`rubberduck serve --workers N`: N processes on one host sharing the control and proxy ports.

Refused (exit 2, one line) where it cannot work: SQLite, or no Redis. On throw-away Postgres and
Redis, both workers answer the control port (each its own node in /healthz), a proxy started through
the API listens in both, and a stop signal to the parent stops them all.
"""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.engines import PostgresServer, RedisServer, engines_available
from tests.fakes.cassette import recordings
from tests.fakes.upstream import FakeUpstream
from tests.support import RELAXED_ACCOUNTS_ENV, Api, free_port, proxy_url

GRACEFUL_SECONDS = 10
CHAT = "/v1/chat/completions"
REQUEST = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "What is 2+2?"}]}
UNREACHABLE_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:1/none"
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"
_redis_databases = itertools.count(1)  # one Redis DB number per deployment: they never share keys


def environment(**settings: str) -> dict[str, str]:
    """This process's environment without its RUBBERDUCK_* settings (a Postgres test run sets some)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("RUBBERDUCK_")}
    return {**env, **{name: value for name, value in settings.items() if value}}


def serve_command(port: int, data_dir: Path, workers: int) -> list[str]:
    return [sys.executable, "-m", "rubberduck", "serve", "--workers", str(workers), "--port", str(port),
            "--data-dir", str(data_dir)]  # fmt: skip


def children_of(pid: int) -> set[int]:
    try:
        return {int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}
    except FileNotFoundError:
        return set()


def alive(pid: int) -> bool:
    """Running, or stopping: not gone and not a zombie (an orphan's may wait a while for its reaper)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def listening(port: int, pids: set[int]) -> set[int]:
    """Which of `pids` have a socket listening on `port` (read from /proc: no tool needed)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(f"socket:[{fields[9]}]")
    found = set()
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except FileNotFoundError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                    found.add(pid)
                    break
            except FileNotFoundError:
                continue
    return found


class Workers:
    """`serve --workers N` on a fresh Postgres database and its own Redis DB number."""

    def __init__(self, tmp: Path, postgres: PostgresServer, redis: RedisServer, count: int = 2) -> None:
        self.port = free_port()
        self.count = count
        self.log_path = tmp / "workers.log"
        redis_url = redis.url.rsplit("/", 1)[0] + f"/{next(_redis_databases)}"
        self.env = environment(
            RUBBERDUCK_DATABASE_URL=postgres.database(),
            RUBBERDUCK_REDIS_URL=redis_url,
            RUBBERDUCK_FIRST_PROXY_PORT=str(free_port()),
            RUBBERDUCK_GRACEFUL_STOP_SECONDS=str(GRACEFUL_SECONDS),
            **RELAXED_ACCOUNTS_ENV,
        )
        self.command = serve_command(self.port, tmp / "data", count)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> Workers:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve --workers exited early:\n{self.output()}")
            children = children_of(self.pid)
            if len(children) == self.count and listening(self.port, children) == children:
                return self
            time.sleep(0.2)
        raise RuntimeError(f"the workers did not all listen:\n{self.output()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=GRACEFUL_SECONDS + 20)
            except subprocess.TimeoutExpired:
                for pid in children_of(self.pid):
                    os.kill(pid, signal.SIGKILL)
                self.process.kill()
                self.process.wait()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture(scope="module")
def engines() -> Iterator[tuple[PostgresServer, RedisServer]]:
    missing = engines_available()
    if missing:
        pytest.skip(f"needs {missing}")
    postgres = PostgresServer().start()
    try:
        redis = RedisServer().start()
        try:
            yield postgres, redis
        finally:
            redis.destroy()
    finally:
        postgres.destroy()


@pytest.fixture(scope="module")
def workers(
    engines: tuple[PostgresServer, RedisServer], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Workers]:
    deployment = Workers(tmp_path_factory.mktemp("workers"), *engines)
    try:
        yield deployment.start()
    finally:
        deployment.stop()


@pytest.mark.parametrize(
    ("database_url", "redis_url", "says", "names"),
    [
        ("", UNREACHABLE_REDIS, "needs Postgres", "RUBBERDUCK_DATABASE_URL"),
        (
            "sqlite+aiosqlite:///{data}/other.db",
            UNREACHABLE_REDIS,
            "needs Postgres",
            "RUBBERDUCK_DATABASE_URL",
        ),
        (UNREACHABLE_POSTGRES, "", "needs Redis", "RUBBERDUCK_REDIS_URL"),
    ],
    ids=["sqlite-default", "sqlite-url", "no-redis"],
)
def test_more_than_one_worker_is_refused_without_postgres_and_redis(
    tmp_path: Path, database_url: str, redis_url: str, says: str, names: str
) -> None:
    data_dir = tmp_path / "data"
    env = environment(
        RUBBERDUCK_DATABASE_URL=database_url.format(data=tmp_path), RUBBERDUCK_REDIS_URL=redis_url
    )
    port = free_port()
    started = time.monotonic()
    result = subprocess.run(
        serve_command(port, data_dir, 2), env=env, capture_output=True, text=True, timeout=60, check=False
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith(f"error: serve --workers 2 {says}"), result.stderr
    assert names in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr  # one line, no traceback
    # Refused before anything starts: no server, no data dir, no database opened (a Python start-up).
    assert elapsed < 8, elapsed
    assert not data_dir.exists()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_one_server_with_redis_but_sqlite_is_refused_with_one_line(tmp_path: Path) -> None:
    """A node of a team deployment needs the shared database: Redis beside SQLite is a configuration error."""
    env = environment(RUBBERDUCK_DATABASE_URL="", RUBBERDUCK_REDIS_URL=UNREACHABLE_REDIS)
    result = subprocess.run(
        serve_command(free_port(), tmp_path / "data", 1), env=env, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("error: RUBBERDUCK_REDIS_URL makes this server a node"), result.stderr
    assert "RUBBERDUCK_DATABASE_URL" in result.stderr and "Traceback" not in result.stderr


def test_a_worker_that_cannot_start_is_reported_and_the_parent_fails(tmp_path: Path) -> None:
    """The port is held by a listener that does not share it: the first worker cannot bind, and the
    parent neither starts the others nor waits; it says why and exits non-zero."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = environment(
            RUBBERDUCK_DATABASE_URL=UNREACHABLE_POSTGRES, RUBBERDUCK_REDIS_URL=UNREACHABLE_REDIS
        )
        result = subprocess.run(
            serve_command(port, tmp_path / "data", 3),
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1, result.stderr
    assert f"error: control plane: port {port} is already in use on 127.0.0.1" in result.stderr
    assert "worker 1 of 3 started" in result.stderr
    assert "worker 2 of 3" not in result.stderr
    assert "exited with status 1" in result.stderr


def test_both_workers_answer_the_control_port_each_as_its_own_node(workers: Workers) -> None:
    children = children_of(workers.pid)
    assert len(children) == 2
    expected = {f"{socket.gethostname()}:{pid}" for pid in children}
    seen: set[str] = set()
    for _ in range(60):  # a fresh connection each time: the kernel picks a worker per connection
        if seen == expected:
            break
        response = httpx.get(workers.url + "/healthz", timeout=10)
        assert response.status_code == 200, response.text
        seen.add(response.json()["node"])
    assert seen == expected, workers.output()


def test_a_proxy_started_through_the_api_listens_in_both_workers(workers: Workers) -> None:
    upstream = FakeUpstream()
    upstream.add("POST", CHAT, recordings("openai", "chat_completions_nonstream_tools.yaml")[0])
    with upstream:
        api = Api.new_user(workers.url, "owner@example.com")
        proxy = api.running_proxy("openai", upstream.url)
        children = children_of(workers.pid)
        deadline = time.monotonic() + 5  # the start reaches the other worker over Redis within a second
        while listening(proxy["port"], children) != children and time.monotonic() < deadline:
            time.sleep(0.1)
        assert listening(proxy["port"], children) == children, workers.output()
        for _ in range(10):
            response = httpx.post(proxy_url(proxy) + CHAT, json=REQUEST, timeout=30)
            assert response.status_code == 200, response.text


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=lambda s: s.name)
def test_a_stop_signal_to_the_parent_stops_every_worker(
    engines: tuple[PostgresServer, RedisServer], tmp_path: Path, stop: signal.Signals
) -> None:
    """SIGTERM and SIGINT are passed on; a parent killed outright takes its workers with it (Linux)."""
    deployment = Workers(tmp_path, *engines).start()
    try:
        children = children_of(deployment.pid)
        assert len(children) == 2
        os.kill(deployment.pid, stop)
        assert deployment.process is not None
        status = deployment.process.wait(timeout=GRACEFUL_SECONDS + 5)
        deadline = time.monotonic() + GRACEFUL_SECONDS
        while any(alive(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in children if alive(pid)], deployment.output()
        assert status == (-signal.SIGKILL if stop == signal.SIGKILL else 0), deployment.output()
        assert "Traceback" not in deployment.output()
    finally:
        deployment.stop()
