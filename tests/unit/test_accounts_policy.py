"""Registration policy, allowlists, the throttle's arithmetic and the account settings from the env."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from rubberduck.auth.email import build_mailer, reset_email, verification_email
from rubberduck.auth.policy import AccountSettings, allowlisted, normalise_allowlist_entry
from rubberduck.auth.throttle import LoginThrottle, SlidingWindow
from rubberduck.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def policy(**changes: object) -> AccountSettings:
    base: dict[str, object] = {
        "registration": "closed",
        "registration_allowlist": [],
        "password_login": True,
        "google_login": True,
        "github_login": True,
        "require_verification": True,
        "log_retention_days": None,
    }
    return AccountSettings.model_validate({**base, **changes})


@pytest.mark.parametrize(
    ("entry", "normalised"),
    [
        (" Ann@Example.COM ", "ann@example.com"),
        ("@Corp.Example", "@corp.example"),
        ("corp.example", "corp.example"),
    ],
)
def test_allowlist_entries_are_normalised(entry: str, normalised: str) -> None:
    assert normalise_allowlist_entry(entry) == normalised


@pytest.mark.parametrize(
    "entry", ["", "@", "a b@example.com", "example..com", "-bad.example", "x@", "@@x.com"]
)
def test_malformed_allowlist_entries_are_refused(entry: str) -> None:
    with pytest.raises(ValueError):
        normalise_allowlist_entry(entry)


def test_allowlist_matches_addresses_and_exact_domains() -> None:
    allowlist = ["ann@other.example", "@corp.example", "team.example"]
    assert allowlisted(allowlist, "Ann@Other.Example")
    assert allowlisted(allowlist, "bob@corp.example") and allowlisted(allowlist, "bob@team.example")
    assert not allowlisted(allowlist, "bob@other.example")
    assert not allowlisted(allowlist, "bob@sub.corp.example")
    assert not allowlisted(allowlist, "bob@corp.example.evil")
    assert not allowlisted(allowlist, "ann@other.example.evil")


def test_registration_refusals() -> None:
    assert policy().registration_refusal("x@example.com", first_user=True) is None
    assert policy().registration_refusal("x@example.com", first_user=False) == "REGISTRATION_CLOSED"
    assert policy(registration="open").registration_refusal("x@example.com", first_user=False) is None
    listed = policy(registration="allowlist", registration_allowlist=["@example.com"])
    assert listed.registration_refusal("x@example.com", first_user=False) is None
    assert listed.registration_refusal("x@example.org", first_user=False) == "REGISTRATION_NOT_ALLOWED"
    with pytest.raises(ValidationError):
        policy(registration_allowlist=["not an address"])


def test_sliding_window_refuses_until_the_oldest_hit_leaves() -> None:
    clock = Clock()
    window = SlidingWindow(limit=3, window=60.0, clock=clock)
    for _ in range(3):
        assert window.retry_after("k") == 0
        window.hit("k")
        clock.now += 10
    assert window.retry_after("k") == pytest.approx(30.0)  # first hit at 1000, now 1030, window 60
    clock.now += 30
    assert window.retry_after("k") == 0
    window.clear("k")
    assert window.retry_after("k") == 0


def test_sliding_window_memory_is_bounded() -> None:
    window = SlidingWindow(limit=1, window=60.0, max_keys=3, clock=Clock())
    for key in "abcd":
        window.hit(key)
    assert window.retry_after("a") == 0  # evicted: the oldest key went first
    assert all(window.retry_after(key) > 0 for key in "bcd")


def test_login_throttle_counts_accounts_and_addresses_separately() -> None:
    throttle = LoginThrottle(per_account=2, per_ip=3, window=60.0)
    throttle.failed("10.0.0.1", "Ann@example.com")
    throttle.failed("10.0.0.2", "ann@example.com")
    # Never per account alone: failures from elsewhere cannot lock the owner out of a fresh address.
    assert throttle.retry_after("10.0.0.3", "ANN@example.com") == 0
    throttle.failed("10.0.0.1", "ann@example.com")
    assert throttle.retry_after("10.0.0.1", "ANN@example.com") > 0  # per (account, address)
    throttle.succeeded("10.0.0.1", "ann@example.com")
    assert throttle.retry_after("10.0.0.1", "ann@example.com") == 0
    for account in ("a", "b", "c"):
        throttle.failed("10.0.0.9", account)
    assert throttle.retry_after("10.0.0.9", "fresh") > 0  # per address, whatever the account
    assert throttle.retry_after("10.0.0.8", "fresh") == 0


def test_account_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUBBERDUCK_REGISTRATION", "allowlist")
    monkeypatch.setenv("RUBBERDUCK_REGISTRATION_ALLOWLIST", " a@x.example , @y.example ,")
    monkeypatch.setenv("RUBBERDUCK_CORS_ORIGINS", "http://ui.example,http://other.example")
    monkeypatch.setenv("RUBBERDUCK_REQUIRE_VERIFICATION", "false")
    settings = Settings()
    assert settings.registration_allowlist == ["a@x.example", "@y.example"]
    assert settings.cors_origins == ["http://ui.example", "http://other.example"]
    accounts = AccountSettings.from_env(settings)
    assert accounts.registration == "allowlist" and accounts.require_verification is False


def test_defaults_are_the_safe_ones() -> None:
    settings = Settings(_env_file=None)
    assert settings.host == "127.0.0.1" and settings.cors_origins == []
    assert settings.registration == "closed" and settings.require_verification
    assert "smtp_password" not in repr(settings) and "google_client_secret" not in repr(settings)


@pytest.mark.parametrize(
    ("host", "public_url", "expected"),
    [
        ("127.0.0.1", "", "http://127.0.0.1:9000"),
        ("0.0.0.0", "", "http://localhost:9000"),
        ("::1", "", "http://[::1]:9000"),
        ("0.0.0.0", "https://duck.example.com/", "https://duck.example.com"),
    ],
)
def test_public_url(host: str, public_url: str, expected: str) -> None:
    assert Settings(host=host, port=9000, public_url=public_url).resolved_public_url == expected


def test_mail_links_point_at_the_web_ui_pages() -> None:
    assert (
        "https://d.example/verify-email?token=a.b-c_d"
        in verification_email("https://d.example", "x@y", "a.b-c_d").text
    )
    assert "https://d.example/reset-password?token=t" in reset_email("https://d.example", "x@y", "t").text
    with pytest.raises(ValueError, match="SENDGRID_API_KEY"):
        build_mailer(Settings(email_backend="sendgrid"))
