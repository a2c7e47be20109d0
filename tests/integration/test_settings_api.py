"""GET|PUT /api/settings: superusers only, validated, stored, applied at once without a restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.cassette import recordings
from tests.fakes.upstream import FakeUpstream
from tests.support import PASSWORD, Api, RubberduckProcess, create_user_cli, proxy_url

KEYS = {
    "registration",
    "registration_allowlist",
    "password_login",
    "google_login",
    "github_login",
    "require_verification",
    "ip_allow",
    "ip_block",
    "log_retention_days",
}


@pytest.fixture
def admin(superuser_api: Api) -> Iterator[Api]:
    """The superuser; whatever a test changes on the shared server is put back afterwards."""
    before = superuser_api.http.get("/api/settings").json()
    yield superuser_api
    assert superuser_api.http.put("/api/settings", json=before).status_code == 200


def put(admin: Api, **changes: Any) -> httpx.Response:
    current = admin.http.get("/api/settings").json()
    return admin.http.put("/api/settings", json={**current, **changes})


def test_settings_are_for_superusers_only(server: RubberduckProcess, api: Api, admin: Api) -> None:
    assert httpx.get(server.url + "/api/settings").status_code == 401
    assert api.http.get("/api/settings").status_code == 403
    body = admin.http.get("/api/settings").json()
    assert set(body) == KEYS
    assert api.http.put("/api/settings", json=body).status_code == 403


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"registration": "sometimes"}, "registration"),
        ({"registration_allowlist": ["not an address"]}, "registration_allowlist"),
        ({"ip_allow": ["999.1.1.1"]}, "ip_allow"),
        ({"log_retention_days": 0}, "log_retention_days"),
        ({"colour": "red"}, "colour"),
        ({"password_login": False}, "password_login"),  # no social login configured: nobody could log in
    ],
)
def test_invalid_settings_are_422_naming_the_field(admin: Api, changes: dict[str, Any], field: str) -> None:
    response = put(admin, **changes)
    assert response.status_code == 422, response.text
    assert field in [error["loc"][-1] for error in response.json()["detail"]]


def test_a_put_must_carry_every_field(admin: Api) -> None:
    current = admin.http.get("/api/settings").json()
    del current["ip_block"]
    response = admin.http.put("/api/settings", json=current)
    assert response.status_code == 422 and response.json()["detail"][0]["loc"][-1] == "ip_block"


def test_ip_lists_are_the_global_ip_filter_and_apply_to_running_proxies(admin: Api, api: Api) -> None:
    with FakeUpstream() as fake:
        fake.add("GET", "/v1/models", recordings("openai", "models_list.yaml")[0])
        proxy = api.running_proxy("openai", fake.url)
        assert httpx.get(proxy_url(proxy) + "/v1/models").status_code == 200
        blocked = put(admin, ip_block=["127.0.0.0/8"], log_retention_days=30)
        assert blocked.status_code == 200 and blocked.json()["ip_block"] == ["127.0.0.0/8"]
        assert admin.http.get("/api/settings/ip-filter").json() == {
            "ip_allow": [],
            "ip_block": ["127.0.0.0/8"],
        }
        assert httpx.get(proxy_url(proxy) + "/v1/models").status_code == 403
        # The older route writes the same lists.
        assert (
            admin.http.put("/api/settings/ip-filter", json={"ip_allow": [], "ip_block": []}).status_code
            == 200
        )
        after = admin.http.get("/api/settings").json()
        assert after["ip_block"] == [] and after["log_retention_days"] == 30
        assert httpx.get(proxy_url(proxy) + "/v1/models").status_code == 200


def test_requiring_verification_applies_to_existing_sessions_at_once(
    server: RubberduckProcess, admin: Api, api: Api
) -> None:
    email = api.http.get("/api/users/me").json()["email"]  # registered while verification was off
    assert put(admin, require_verification=True).status_code == 200
    assert httpx.get(server.url + "/api/auth/config").json()["require_verification"] is True
    denied = api.http.get("/api/proxies")
    assert denied.status_code == 403 and denied.json()["detail"] == "USER_NOT_VERIFIED"
    assert api.http.get("/api/users/me").status_code == 403
    login = httpx.post(server.url + "/api/auth/jwt/login", data={"username": email, "password": PASSWORD})
    assert login.json()["detail"] == "LOGIN_USER_NOT_VERIFIED"
    assert admin.http.get("/api/proxies").status_code == 200  # verified accounts carry on
    assert put(admin, require_verification=False).status_code == 200
    assert api.http.get("/api/proxies").status_code == 200


def test_settings_survive_a_restart(tmp_path: Path) -> None:
    process = RubberduckProcess(tmp_path / "data")
    create_user_cli(process.data_dir, "boss@example.com", superuser=True)
    process.start()
    try:
        boss = Api.login(process.url, "boss@example.com")
        wanted = {
            **boss.http.get("/api/settings").json(),
            "registration": "allowlist",
            "registration_allowlist": ["@corp.example"],
            "require_verification": True,
            "ip_allow": ["127.0.0.1", "10.0.0.0/8"],
            "log_retention_days": 14,
        }
        assert boss.http.put("/api/settings", json=wanted).json() == wanted
        process.stop()
        process.start()
        assert boss.http.get("/api/settings").json() == wanted
    finally:
        process.stop()
