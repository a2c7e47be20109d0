"""Registration policy: the first account bootstraps the server, then registration is what a superuser says."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import PASSWORD, Api, RubberduckProcess


def register(base_url: str, email: str, password: str = PASSWORD) -> httpx.Response:
    return httpx.post(base_url + "/api/auth/register", json={"email": email, "password": password})


def login(base_url: str, email: str, password: str = PASSWORD) -> httpx.Response:
    return httpx.post(base_url + "/api/auth/jwt/login", data={"username": email, "password": password})


def logged_link(process: RubberduckProcess, page: str, email: str) -> str:
    """The token of the console backend's mail to `email`, as printed in the server log."""
    deadline = time.monotonic() + 10
    pattern = re.compile(rf"e-mail to {re.escape(email)}:.*?{re.escape(page)}\?token=(\S+)", re.DOTALL)
    while time.monotonic() < deadline:
        match = pattern.search(process.output())
        if match:
            return match.group(1)
        time.sleep(0.05)
    raise AssertionError(f"no {page} link for {email} in the server log")


def put_settings(admin: Api, **changes: Any) -> dict[str, Any]:
    current = admin.http.get("/api/settings").json()
    response = admin.http.put("/api/settings", json={**current, **changes})
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.fixture
def fresh(tmp_path: Path) -> Any:
    """A server with the product's own account defaults and no account yet."""
    process = RubberduckProcess(tmp_path / "data", product_accounts=True).start()
    yield process
    process.stop()


def test_first_account_becomes_superuser_then_registration_closes(fresh: RubberduckProcess) -> None:
    url = fresh.url
    config = httpx.get(url + "/api/auth/config").json()
    assert config == {
        "registration": "closed",
        "password_login": True,
        "social": [],
        "require_verification": True,
        "first_user": True,
    }
    # Flags in the body are ignored: the first account is superuser by rule, and still unverified.
    body = {"email": "founder@example.com", "password": PASSWORD, "is_verified": True, "is_active": False}
    first = httpx.post(url + "/api/auth/register", json=body)
    assert first.status_code == 201, first.text
    assert first.json()["is_superuser"] is True and first.json()["is_verified"] is False
    assert httpx.get(url + "/api/auth/config").json()["first_user"] is False

    # Verification is required by default; the console backend printed the link to the server log.
    assert login(url, "founder@example.com").json()["detail"] == "LOGIN_USER_NOT_VERIFIED"
    token = logged_link(fresh, "/verify-email", "founder@example.com")
    assert fresh.output().count(f"http://127.0.0.1:{fresh.port}/verify-email?token=") == 1
    verified = httpx.post(url + "/api/auth/verify", json={"token": token})
    assert verified.status_code == 200 and verified.json()["is_verified"] is True
    admin = Api.login(url, "founder@example.com")

    second = register(url, "second@example.com")
    assert second.status_code == 403 and second.json()["detail"] == "REGISTRATION_CLOSED"

    put_settings(admin, registration="open")
    assert httpx.get(url + "/api/auth/config").json()["registration"] == "open"
    body = {"email": "second@example.com", "password": PASSWORD, "is_superuser": True, "is_verified": True}
    opened = httpx.post(url + "/api/auth/register", json=body)
    assert opened.status_code == 201
    assert opened.json()["is_superuser"] is False and opened.json()["is_verified"] is False

    put_settings(
        admin, registration="allowlist", registration_allowlist=["@Team.example", "ann@other.example"]
    )
    assert register(url, "bob@team.example").status_code == 201
    assert register(url, "ann@other.example").status_code == 201
    refused = register(url, "eve@other.example")
    assert refused.status_code == 403 and refused.json()["detail"] == "REGISTRATION_NOT_ALLOWED"
    assert register(url, "eve@sub.team.example").status_code == 403  # a domain means exactly that domain

    # Stored, so a restart keeps the superuser's choice over the environment's default.
    fresh.stop()
    fresh.start()
    assert httpx.get(url + "/api/auth/config").json()["registration"] == "allowlist"
    assert register(url, "carl@team.example").status_code == 201
    assert register(url, "carl@else.example").status_code == 403


def test_concurrent_registrations_on_a_fresh_server_make_one_superuser(fresh: RubberduckProcess) -> None:
    results: list[httpx.Response] = []
    start = threading.Barrier(6)

    def attempt(index: int) -> None:
        start.wait()
        results.append(register(fresh.url, f"racer{index}@example.com"))

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    created = [r for r in results if r.status_code == 201]
    assert len(created) == 1, [r.text for r in results]
    assert created[0].json()["is_superuser"] is True
    assert sorted(r.status_code for r in results) == [201] + [403] * 5


def test_registration_policy_from_the_environment(tmp_path: Path) -> None:
    env = {
        "RUBBERDUCK_REGISTRATION": "allowlist",
        "RUBBERDUCK_REGISTRATION_ALLOWLIST": "lead@corp.example, @corp.example",
        "RUBBERDUCK_REQUIRE_VERIFICATION": "false",
    }
    process = RubberduckProcess(tmp_path / "data", env=env, product_accounts=True).start()
    try:
        # The first account is the bootstrap, allowed whatever the list says.
        assert register(process.url, "owner@elsewhere.example").json()["is_superuser"] is True
        assert register(process.url, "dev@corp.example").status_code == 201
        assert register(process.url, "dev@corp.example.evil").status_code == 403
        assert login(process.url, "dev@corp.example").status_code == 200  # verification switched off
        settings = Api.login(process.url, "owner@elsewhere.example").http.get("/api/settings").json()
        assert settings["registration_allowlist"] == ["lead@corp.example", "@corp.example"]
    finally:
        process.stop()
