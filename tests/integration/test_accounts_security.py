"""Passwords, tokens (secret, expiry, logout), brute-force throttling, user deletion, CORS, the loopback bind."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx
import jwt
import pytest

from tests.fakes.cassette import recordings
from tests.fakes.upstream import FakeUpstream
from tests.support import PASSWORD, Api, RubberduckProcess, database_rows, proxy_url


def login(url: str, email: str, password: str = PASSWORD) -> httpx.Response:
    return httpx.post(url + "/api/auth/jwt/login", data={"username": email, "password": password})


def test_passwords_are_argon2_hashed_and_at_least_8_characters(server: RubberduckProcess) -> None:
    short = httpx.post(
        server.url + "/api/auth/register", json={"email": "p7@example.com", "password": "1234567"}
    )
    assert short.status_code == 400 and "8 characters" in short.text
    eight = httpx.post(
        server.url + "/api/auth/register", json={"email": "p8@example.com", "password": "12345678"}
    )
    assert eight.status_code == 201
    (user,) = database_rows(
        server, "select hashed_password from users where email = :email", email="p8@example.com"
    )
    hashed = user["hashed_password"]
    assert hashed.startswith("$argon2id$") and "12345678" not in hashed


def test_logout_revokes_that_token_only(server: RubberduckProcess, api: Api) -> None:
    email = api.http.get("/api/users/me").json()["email"]
    other_session = Api.login(server.url, email)
    assert api.http.post("/api/auth/jwt/logout").status_code == 204
    assert api.http.get("/api/users/me").status_code == 401
    assert api.http.get("/api/proxies").status_code == 401
    assert api.http.post("/api/auth/jwt/logout").status_code == 401
    assert other_session.http.get("/api/users/me").status_code == 200  # the other login is untouched


def test_a_revoked_token_stays_revoked_after_a_restart(tmp_path: Path) -> None:
    process = RubberduckProcess(tmp_path / "data").start()
    try:
        kept = Api.new_user(process.url, "restart@example.com")
        ended = Api.login(process.url, "restart@example.com")
        assert ended.http.post("/api/auth/jwt/logout").status_code == 204
        process.stop()
        process.start()
        assert kept.http.get("/api/users/me").status_code == 200  # the secret was kept
        assert ended.http.get("/api/users/me").status_code == 401
    finally:
        process.stop()


def test_tokens_are_signed_with_the_configured_secret_and_expire(tmp_path: Path) -> None:
    secret = "a-configured-secret-of-enough-length-0123456789"
    env = {"RUBBERDUCK_SECRET": secret, "RUBBERDUCK_JWT_LIFETIME_SECONDS": "2"}
    process = RubberduckProcess(tmp_path / "data", env=env).start()
    try:
        user = Api.new_user(process.url, "short-lived@example.com")
        token = str(user.http.headers["authorization"]).removeprefix("Bearer ")
        claims = jwt.decode(token, secret, algorithms=["HS256"], audience="fastapi-users:auth")
        assert claims["exp"] - time.time() <= 2
        assert not (tmp_path / "data" / "secret.key").exists()  # nothing generated when one is given
        assert user.http.get("/api/users/me").status_code == 200
        time.sleep(3)
        assert user.http.get("/api/users/me").status_code == 401
    finally:
        process.stop()


def test_deleting_a_user_stops_their_proxies(server: RubberduckProcess, superuser_api: Api, api: Api) -> None:
    with FakeUpstream() as fake:
        fake.add("GET", "/v1/models", recordings("openai", "models_list.yaml")[0])
        proxy = api.running_proxy("openai", fake.url)
        assert httpx.get(proxy_url(proxy) + "/v1/models").status_code == 200
        user_id = api.http.get("/api/users/me").json()["id"]
        assert superuser_api.http.delete(f"/api/users/{user_id}").status_code == 204
        with pytest.raises(httpx.ConnectError):
            httpx.get(proxy_url(proxy) + "/v1/models")
        assert api.http.get("/api/proxies").status_code == 401


def test_repeated_failed_logins_for_one_account_are_refused(tmp_path: Path) -> None:
    env = {
        "RUBBERDUCK_LOGIN_MAX_FAILURES_PER_ACCOUNT": "3",
        # Long enough for three password checks on a loaded machine (each one costs argon2's time).
        "RUBBERDUCK_LOGIN_FAILURE_WINDOW_SECONDS": "5",
    }
    process = RubberduckProcess(tmp_path / "data", env=env).start()
    try:
        Api.new_user(process.url, "target@example.com")
        Api.new_user(process.url, "bystander@example.com")
        for _ in range(3):
            assert login(process.url, "target@example.com", "wrong-guess").status_code == 400
        refused = login(process.url, "TARGET@example.com", "wrong-guess")
        assert refused.status_code == 429 and refused.json()["detail"] == "LOGIN_TOO_MANY_ATTEMPTS"
        assert 1 <= int(refused.headers["retry-after"]) <= 5
        assert login(process.url, "target@example.com").status_code == 429  # even the right password
        last_attempt = time.monotonic()
        assert login(process.url, "bystander@example.com").status_code == 200  # other accounts log in
        time.sleep(max(0.0, last_attempt + 5.2 - time.monotonic()))  # every failure has left the window
        assert login(process.url, "target@example.com").status_code == 200  # slowed, not locked forever
    finally:
        process.stop()


def test_repeated_failed_logins_from_one_address_are_refused(tmp_path: Path) -> None:
    env = {"RUBBERDUCK_LOGIN_MAX_FAILURES_PER_IP": "4"}
    process = RubberduckProcess(tmp_path / "data", env=env).start()
    try:
        Api.new_user(process.url, "victim@example.com")
        for index in range(4):  # spraying one password over many accounts
            assert login(process.url, f"guess{index}@example.com", "Summer2024!").status_code == 400
        refused = login(process.url, "victim@example.com")
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    finally:
        process.stop()


def test_cors_is_off_unless_origins_are_configured(server: RubberduckProcess, tmp_path: Path) -> None:
    preflight = {"Origin": "http://ui.example", "Access-Control-Request-Method": "GET"}
    closed = httpx.options(server.url + "/api/proxies", headers=preflight)
    assert "access-control-allow-origin" not in closed.headers
    plain = httpx.get(server.url + "/api/auth/config", headers={"Origin": "http://ui.example"})
    assert "access-control-allow-origin" not in plain.headers

    process = RubberduckProcess(
        tmp_path / "data", env={"RUBBERDUCK_CORS_ORIGINS": "http://ui.example"}
    ).start()
    try:
        allowed = httpx.options(process.url + "/api/proxies", headers=preflight)
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "http://ui.example"
        other = httpx.options(
            process.url + "/api/proxies", headers={**preflight, "Origin": "http://evil.example"}
        )
        assert "access-control-allow-origin" not in other.headers
    finally:
        process.stop()


def _non_loopback_address() -> str | None:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # no packet is sent; this only picks the outgoing interface
            address = str(probe.getsockname()[0])
    except OSError:
        return None
    return None if address.startswith("127.") else address


def test_control_plane_binds_loopback_by_default(server: RubberduckProcess) -> None:
    assert f"Uvicorn running on http://127.0.0.1:{server.port}" in server.output()
    address = _non_loopback_address()
    if address is not None:  # a machine with a network interface: the port must not answer there
        with socket.socket() as sock:
            sock.settimeout(2)
            assert sock.connect_ex((address, server.port)) != 0
