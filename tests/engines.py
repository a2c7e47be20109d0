"""Throw-away Postgres and Redis servers for the tests: Debian's binaries, free ports, temp dirs.

Never the machine's default cluster or instance: each server gets its own directory and port and is
stopped when the test session (or the test) ends. Postgres refuses to run as root, so as root it runs
as the `postgres` system user that Debian's package creates; as anyone else it runs as that user.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support import free_port


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    return Path(found[-1]).parent if found else None


def engines_available() -> str | None:
    """None when both engines are installed, else what is missing (for a skip reason)."""
    missing = []
    if _postgres_bin() is None:
        missing.append("postgresql (Debian package)")
    if shutil.which("redis-server") is None:
        missing.append("redis-server (Debian package)")
    return ", ".join(missing) or None


def _as_postgres_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class PostgresServer:
    """initdb + pg_ctl start in a temp dir, trust auth on 127.0.0.1 only; one database per `database()`."""

    def __init__(self) -> None:
        bin_dir = _postgres_bin()
        if bin_dir is None:
            raise RuntimeError("Debian's postgresql is not installed (make test installs it)")
        self.bin = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="rd-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self._databases = 0

    def start(self) -> PostgresServer:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self.root.chmod(0o700)
        self._run(
            ["initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"]
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            ["pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-o", options, "-w", "start"]
        )
        return self

    def _run(self, command: list[str]) -> None:
        command[0] = str(self.bin / command[0])
        subprocess.run(
            _as_postgres_user(command), check=True, capture_output=True, timeout=120, stdin=subprocess.DEVNULL
        )

    def sql(self, statement: str, database: str = "postgres") -> str:
        psql = str(self.bin / "psql")
        done = subprocess.run(
            [psql, "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database, "-XAtc", statement],
            check=True, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        return done.stdout.strip()

    def database(self, name: str | None = None) -> str:
        """A new empty database; its SQLAlchemy URL (asyncpg)."""
        self._databases += 1
        name = name or f"rd_{os.getpid()}_{self._databases}"
        self.sql(f'CREATE DATABASE "{name}"')
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (it can be started again with `resume`)."""
        subprocess.run(
            _as_postgres_user([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"]),
            capture_output=True, timeout=60,
        )  # fmt: skip

    def resume(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            ["pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-o", options, "-w", "start"]
        )

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


class RedisServer:
    """redis-server on a free loopback port, no persistence, its files in a temp dir."""

    def __init__(self) -> None:
        if shutil.which("redis-server") is None:
            raise RuntimeError("Debian's redis-server is not installed (make test installs it)")
        self.root = Path(tempfile.mkdtemp(prefix="rd-redis-"))
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        log = (self.root / "log").open("ab")
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.root),
             "--save", "", "--appendonly", "no", "--protected-mode", "no"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.ping():
                return self
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start: {(self.root / 'log').read_text()}")

    def ping(self) -> bool:
        import socket

        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def flush(self) -> None:
        import socket

        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
            sock.sendall(b"FLUSHALL\r\n")
            sock.recv(16)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def resume(self) -> None:
        """Start again on the same port (after `stop`)."""
        self.start()

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
