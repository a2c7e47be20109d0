"""E-mail verification and password reset, delivered by a real SMTP server (and SendGrid's API shape)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes.mailbox import Mailbox
from tests.fakes.upstream import FakeRequest, FakeResponse, FakeUpstream
from tests.support import PASSWORD, RubberduckProcess, create_user_cli

PUBLIC_URL = "https://duck.example.com"


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Mailbox]:
    with Mailbox() as box:
        yield box


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, mailbox: Mailbox) -> Iterator[RubberduckProcess]:
    """Product defaults (verification required) with registration open and mail through SMTP."""
    env = {**mailbox.env(), "RUBBERDUCK_REGISTRATION": "open", "RUBBERDUCK_PUBLIC_URL": PUBLIC_URL}
    process = RubberduckProcess(tmp_path_factory.mktemp("mail"), env=env, product_accounts=True)
    create_user_cli(process.data_dir, "admin@example.com", superuser=True)
    yield process.start()
    process.stop()


def login(server: RubberduckProcess, email: str, password: str = PASSWORD) -> httpx.Response:
    return httpx.post(server.url + "/api/auth/jwt/login", data={"username": email, "password": password})


def me(server: RubberduckProcess, token: str) -> httpx.Response:
    return httpx.get(server.url + "/api/users/me", headers={"Authorization": f"Bearer {token}"})


def registered_and_verified(server: RubberduckProcess, mailbox: Mailbox, email: str) -> None:
    assert httpx.post(
        server.url + "/api/auth/register", json={"email": email, "password": PASSWORD}
    ).is_success
    token = mailbox.wait_for(email, "Confirm").token("/verify-email")
    assert httpx.post(server.url + "/api/auth/verify", json={"token": token}).status_code == 200


def test_login_waits_for_the_emailed_verification_link(server: RubberduckProcess, mailbox: Mailbox) -> None:
    email = "newbie@example.com"
    created = httpx.post(server.url + "/api/auth/register", json={"email": email, "password": PASSWORD})
    assert created.status_code == 201 and created.json()["is_verified"] is False
    refused = login(server, email)
    assert refused.status_code == 400 and refused.json()["detail"] == "LOGIN_USER_NOT_VERIFIED"

    mail = mailbox.wait_for(email, "Confirm your Rubberduck e-mail address")
    assert mail.authenticated  # the SMTP user and password were used
    assert mail.message["From"] == "Rubberduck <noreply@rubberduck.test>"
    assert f"{PUBLIC_URL}/verify-email?token=" in mail.text
    # Following the link: the web UI page posts the token to the API.
    verified = httpx.post(server.url + "/api/auth/verify", json={"token": mail.token("/verify-email")})
    assert verified.status_code == 200 and verified.json()["is_verified"] is True
    assert login(server, email).status_code == 200
    again = httpx.post(server.url + "/api/auth/verify", json={"token": mail.token("/verify-email")})
    assert again.json()["detail"] == "VERIFY_USER_ALREADY_VERIFIED"
    forged = httpx.post(server.url + "/api/auth/verify", json={"token": mail.token("/verify-email") + "x"})
    assert forged.status_code == 400 and forged.json()["detail"] == "VERIFY_USER_BAD_TOKEN"


def test_a_new_verification_link_can_be_requested(server: RubberduckProcess, mailbox: Mailbox) -> None:
    email = "resend@example.com"
    httpx.post(server.url + "/api/auth/register", json={"email": email, "password": PASSWORD})
    mailbox.wait_for(email, "Confirm")
    asked = httpx.post(server.url + "/api/auth/request-verify-token", json={"email": email})
    assert asked.status_code == 202
    second = mailbox.wait_for(email, "Confirm", count=2)
    assert httpx.post(
        server.url + "/api/auth/verify", json={"token": second.token("/verify-email")}
    ).is_success
    assert login(server, email).status_code == 200


def test_password_reset_by_emailed_token_ends_old_sessions(
    server: RubberduckProcess, mailbox: Mailbox
) -> None:
    email = "forgetful@example.com"
    registered_and_verified(server, mailbox, email)
    old_session = login(server, email).json()["access_token"]
    assert me(server, old_session).status_code == 200

    # A forged Host header must not steer the link (and the token) to another site.
    asked = httpx.post(
        server.url + "/api/auth/forgot-password", json={"email": email}, headers={"Host": "evil.example"}
    )
    assert asked.status_code == 202
    mail = mailbox.wait_for(email, "Reset your Rubberduck password")
    assert f"{PUBLIC_URL}/reset-password?token=" in mail.text and "evil.example" not in mail.text
    token = mail.token("/reset-password")

    too_short = httpx.post(
        server.url + "/api/auth/reset-password", json={"token": token, "password": "short"}
    )
    assert too_short.status_code == 400
    assert too_short.json()["detail"]["code"] == "RESET_PASSWORD_INVALID_PASSWORD"
    new_password = "a-much-better-passphrase"
    reset = httpx.post(
        server.url + "/api/auth/reset-password", json={"token": token, "password": new_password}
    )
    assert reset.status_code == 200, reset.text
    assert login(server, email).json()["detail"] == "LOGIN_BAD_CREDENTIALS"
    assert login(server, email, new_password).status_code == 200
    assert me(server, old_session).status_code == 401  # whoever had the old password is logged out
    replay = httpx.post(
        server.url + "/api/auth/reset-password", json={"token": token, "password": "another-one-9"}
    )
    assert replay.json()["detail"] == "RESET_PASSWORD_BAD_TOKEN"  # the token worked once


def test_a_changed_address_must_be_verified_again(server: RubberduckProcess, mailbox: Mailbox) -> None:
    registered_and_verified(server, mailbox, "mover@example.com")
    token = login(server, "mover@example.com").json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    changed = httpx.patch(server.url + "/api/users/me", json={"email": "moved@example.com"}, headers=headers)
    assert changed.status_code == 200 and changed.json()["is_verified"] is False
    assert me(server, token).status_code == 403  # verification is required on this server
    link = mailbox.wait_for("moved@example.com", "Confirm").token("/verify-email")
    assert httpx.post(server.url + "/api/auth/verify", json={"token": link}).status_code == 200
    assert me(server, token).json()["email"] == "moved@example.com"


def test_unknown_addresses_get_the_same_answer_and_no_mail(
    server: RubberduckProcess, mailbox: Mailbox
) -> None:
    for path in ("/api/auth/forgot-password", "/api/auth/request-verify-token"):
        response = httpx.post(server.url + path, json={"email": "nobody@example.com"})
        assert response.status_code == 202
    time.sleep(0.5)
    assert mailbox.messages("nobody@example.com") == []


def test_one_inbox_cannot_be_flooded(server: RubberduckProcess, mailbox: Mailbox) -> None:
    email = "flooded@example.com"
    registered_and_verified(server, mailbox, email)
    for _ in range(15):
        httpx.post(server.url + "/api/auth/forgot-password", json={"email": email})
    time.sleep(1.0)
    assert len(mailbox.messages(email)) == 10  # the verification mail and nine resets, then nothing


def test_sendgrid_backend_posts_the_mail_to_the_api(tmp_path: Path) -> None:
    sent: list[FakeRequest] = []

    async def accept(request: FakeRequest) -> FakeResponse:
        sent.append(request)
        return FakeResponse(202)

    with FakeUpstream() as sendgrid:
        sendgrid.add_handler("POST", "/v3/mail/send", accept)
        env = {
            "RUBBERDUCK_EMAIL_BACKEND": "sendgrid",
            "RUBBERDUCK_SENDGRID_API_KEY": "SG.test-key",
            "RUBBERDUCK_SENDGRID_API_URL": sendgrid.url + "/v3/mail/send",
            "RUBBERDUCK_EMAIL_FROM": "Duck <duck@example.com>",
        }
        process = RubberduckProcess(tmp_path / "data", env=env, product_accounts=True).start()
        try:
            httpx.post(
                process.url + "/api/auth/register", json={"email": "sg@example.com", "password": PASSWORD}
            )
            deadline = time.monotonic() + 10
            while not sent and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(sent) == 1
            request = sent[0]
            assert request.headers["authorization"] == "Bearer SG.test-key"
            body = json.loads(request.body)
            assert body["personalizations"] == [{"to": [{"email": "sg@example.com"}]}]
            assert body["from"] == {"email": "duck@example.com", "name": "Duck"}
            text = body["content"][0]["value"]
            token = text.split("/verify-email?token=")[1].split()[0]
            assert httpx.post(process.url + "/api/auth/verify", json={"token": token}).status_code == 200
            assert "SG.test-key" not in process.output()
        finally:
            process.stop()
