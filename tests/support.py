"""Test helpers: a real `rubberduck serve` process and a small client for its API."""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

PASSWORD = "correct-horse-battery"
_proxy_names = itertools.count(1)

# The suite registers users freely on shared servers; tests of the product's own defaults (first account
# only, verification required) start their process with `product_accounts=True`.
RELAXED_ACCOUNTS_ENV = {"RUBBERDUCK_REGISTRATION": "open", "RUBBERDUCK_REQUIRE_VERIFICATION": "false"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
        self.first_proxy_port = first_proxy_port or free_port()
        self.extra_env = {**({} if product_accounts else RELAXED_ACCOUNTS_ENV), **(env or {})}
        self.log_path = data_dir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

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


def create_user_cli(data_dir: Path, email: str, superuser: bool = False) -> None:
    """`rubberduck user create` on a data dir (the documented first-setup path): a verified user."""
    flags = ["--superuser"] if superuser else []
    subprocess.run(
        [sys.executable, "-m", "rubberduck", "user", "create", "--email", email, "--password", PASSWORD,
         *flags, "--data-dir", str(data_dir)],
        check=True, capture_output=True, timeout=60,
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
