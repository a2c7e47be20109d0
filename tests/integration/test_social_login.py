"""Google and GitHub login end to end against a fake OAuth provider on localhost."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.fakes.oauth import FakeOAuthProvider, OAuthUser
from tests.support import PASSWORD, Api, RubberduckProcess, create_user_cli

ADMIN = "admin@example.com"


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeOAuthProvider]:
    with FakeOAuthProvider() as fake:
        yield fake


@pytest.fixture(scope="module")
def social(
    tmp_path_factory: pytest.TempPathFactory, provider: FakeOAuthProvider
) -> Iterator[RubberduckProcess]:
    env = {**provider.env("google", "github"), "RUBBERDUCK_REGISTRATION": "open"}
    process = RubberduckProcess(tmp_path_factory.mktemp("social"), env=env, product_accounts=True)
    create_user_cli(process.data_dir, ADMIN, superuser=True)
    yield process.start()
    process.stop()


@pytest.fixture
def admin(social: RubberduckProcess) -> Iterator[Api]:
    admin = Api.login(social.url, ADMIN)
    before = admin.http.get("/api/settings").json()
    yield admin
    assert admin.http.put("/api/settings", json=before).status_code == 200


def sign_in(url: str, name: str, provider: FakeOAuthProvider, user: OAuthUser) -> dict[str, str]:
    """The browser's trip: our authorize URL -> the provider -> our callback -> the web UI's /login#..."""
    provider.sign_in_as(user)
    browser = httpx.Client(base_url=url)
    authorize = browser.get(f"/api/auth/{name}/authorize")
    assert authorize.status_code == 200, authorize.text
    consent = httpx.get(authorize.json()["authorization_url"])
    assert consent.status_code == 302, consent.text
    callback = browser.get(consent.headers["location"])
    assert callback.status_code == 303, callback.text
    landing = urlsplit(callback.headers["location"])
    assert f"{landing.scheme}://{landing.netloc}{landing.path}" == f"{url}/login"
    return {key: values[0] for key, values in parse_qs(landing.fragment).items()}


def whoami(url: str, outcome: dict[str, str]) -> dict[str, Any]:
    assert "access_token" in outcome, outcome
    response = httpx.get(
        url + "/api/users/me", headers={"Authorization": f"Bearer {outcome['access_token']}"}
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def put(admin: Api, **changes: Any) -> None:
    current = admin.http.get("/api/settings").json()
    assert admin.http.put("/api/settings", json={**current, **changes}).status_code == 200


def test_configured_providers_are_offered(social: RubberduckProcess, server: RubberduckProcess) -> None:
    assert httpx.get(social.url + "/api/auth/config").json()["social"] == ["google", "github"]
    # Without a client id and secret there is no such login at all.
    assert httpx.get(server.url + "/api/auth/config").json()["social"] == []
    assert httpx.get(server.url + "/api/auth/google/authorize").status_code == 404
    assert httpx.get(server.url + "/api/auth/github/callback").status_code == 404


@pytest.mark.parametrize(("name", "account_id"), [("google", "g-100"), ("github", "100")])
def test_a_new_identity_gets_a_verified_account(
    social: RubberduckProcess, provider: FakeOAuthProvider, name: str, account_id: str
) -> None:
    person = OAuthUser(account_id, f"new-{name}@example.com")
    first = whoami(social.url, sign_in(social.url, name, provider, person))
    assert first["email"] == person.email and first["is_verified"] and not first["is_superuser"]
    again = whoami(social.url, sign_in(social.url, name, provider, person))
    assert again["id"] == first["id"]


def test_an_existing_verified_account_is_linked_by_email(
    social: RubberduckProcess, provider: FakeOAuthProvider
) -> None:
    create_user_cli(social.data_dir, "hub@example.com")  # verified
    existing = Api.login(social.url, "hub@example.com").http.get("/api/users/me").json()
    via_github = whoami(
        social.url, sign_in(social.url, "github", provider, OAuthUser("4242", "hub@example.com"))
    )
    assert via_github["id"] == existing["id"]
    # The same GitHub account later shows another primary address: the link, not the address, decides.
    moved = whoami(social.url, sign_in(social.url, "github", provider, OAuthUser("4242", "hub@new.example")))
    assert moved["id"] == existing["id"]
    assert Api.login(social.url, "hub@example.com").http.get("/api/users/me").status_code == 200


def test_an_unverified_account_is_not_taken_over(
    social: RubberduckProcess, provider: FakeOAuthProvider
) -> None:
    # Someone registered the address first without proving they own it.
    squatted = httpx.post(
        social.url + "/api/auth/register", json={"email": "pat@example.com", "password": PASSWORD}
    )
    assert squatted.status_code == 201
    outcome = sign_in(social.url, "google", provider, OAuthUser("g-pat", "pat@example.com"))
    assert outcome == {"error": "OAUTH_USER_ALREADY_EXISTS"}


def test_an_address_the_provider_did_not_verify_is_refused(
    social: RubberduckProcess, provider: FakeOAuthProvider
) -> None:
    for name, account_id in (("google", "g-unverified"), ("github", "777")):
        person = OAuthUser(account_id, "unproven@example.com", verified=False)
        assert sign_in(social.url, name, provider, person) == {"error": "OAUTH_NOT_AVAILABLE_EMAIL"}


def test_the_callback_needs_the_browser_that_started_the_login(
    social: RubberduckProcess, provider: FakeOAuthProvider
) -> None:
    provider.sign_in_as(OAuthUser("g-csrf", "csrf@example.com"))
    started = httpx.Client(base_url=social.url)
    url = started.get("/api/auth/google/authorize").json()["authorization_url"]
    callback = httpx.get(url).headers["location"]
    other_browser = httpx.get(callback)  # e.g. a victim lured to an attacker's callback link
    assert parse_qs(urlsplit(other_browser.headers["location"]).fragment) == {
        "error": ["OAUTH_INVALID_STATE"]
    }
    tampered = callback.replace("state=", "state=x")
    answer = started.get(tampered)
    assert parse_qs(urlsplit(answer.headers["location"]).fragment) == {"error": ["OAUTH_INVALID_STATE"]}
    denied = started.get("/api/auth/google/callback", params={"error": "access_denied"})
    assert parse_qs(urlsplit(denied.headers["location"]).fragment) == {"error": ["OAUTH_CANCELLED"]}


def test_registration_policy_applies_to_social_sign_up(
    social: RubberduckProcess, provider: FakeOAuthProvider, admin: Api
) -> None:
    known = OAuthUser("g-known", "known@example.com")
    whoami(social.url, sign_in(social.url, "google", provider, known))
    put(admin, registration="closed")
    refused = sign_in(social.url, "google", provider, OAuthUser("g-late", "late@example.com"))
    assert refused == {"error": "REGISTRATION_CLOSED"}
    whoami(social.url, sign_in(social.url, "google", provider, known))  # existing accounts still log in
    put(admin, registration="allowlist", registration_allowlist=["@late.example"])
    whoami(social.url, sign_in(social.url, "github", provider, OAuthUser("555", "x@late.example")))


def test_each_login_method_can_be_switched_off(
    social: RubberduckProcess, provider: FakeOAuthProvider, admin: Api
) -> None:
    put(admin, google_login=False)
    assert httpx.get(social.url + "/api/auth/config").json()["social"] == ["github"]
    off = httpx.get(social.url + "/api/auth/google/authorize")
    assert off.status_code == 403 and off.json()["detail"] == "LOGIN_METHOD_DISABLED"

    create_user_cli(social.data_dir, "pw@example.com")
    put(admin, google_login=True, password_login=False)
    config = httpx.get(social.url + "/api/auth/config").json()
    assert config["password_login"] is False and config["social"] == ["google", "github"]
    login = httpx.post(
        social.url + "/api/auth/jwt/login", data={"username": "pw@example.com", "password": PASSWORD}
    )
    assert login.status_code == 403 and login.json()["detail"] == "LOGIN_METHOD_DISABLED"
    register = httpx.post(
        social.url + "/api/auth/register", json={"email": "pw2@example.com", "password": PASSWORD}
    )
    assert register.status_code == 403
    Api.login(social.url, ADMIN)  # superusers keep password login, so nobody is locked out
    current = admin.http.get("/api/settings").json()
    no_way_in = admin.http.put(
        "/api/settings", json={**current, "google_login": False, "github_login": False}
    )
    assert no_way_in.status_code == 422


def test_the_first_account_can_come_from_a_provider(tmp_path: Path, provider: FakeOAuthProvider) -> None:
    process = RubberduckProcess(tmp_path / "data", env=provider.env("google"), product_accounts=True).start()
    try:
        founder = whoami(
            process.url, sign_in(process.url, "google", provider, OAuthUser("g-1", "f@example.com"))
        )
        assert founder["is_superuser"] and founder["is_verified"]
        second = sign_in(process.url, "google", provider, OAuthUser("g-2", "s@example.com"))
        assert second == {"error": "REGISTRATION_CLOSED"}
    finally:
        process.stop()
