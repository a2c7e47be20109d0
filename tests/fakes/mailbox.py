"""A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives, for the e-mail tests."""

from __future__ import annotations

import email
import email.policy
import re
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.support import free_port

SMTP_USER = "mailer"
SMTP_PASSWORD = "smtp-secret"


@dataclass(frozen=True)
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage
    authenticated: bool

    @property
    def text(self) -> str:
        body = self.message.get_body(("plain",))
        assert body is not None
        return str(body.get_content())

    def token(self, page: str) -> str:
        """The token in the mail's link to the web UI page (e.g. "/verify-email")."""
        match = re.search(re.escape(page) + r"\?token=([^\s]+)", self.text)
        assert match, self.text
        return unquote(match.group(1))


class Mailbox:
    def __init__(self) -> None:
        self.port = free_port()
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._controller = Controller(
            self,
            hostname="127.0.0.1",
            port=self.port,
            authenticator=self._authenticate,
            auth_require_tls=False,  # plain SMTP on loopback; the login is still checked
        )

    def __enter__(self) -> Mailbox:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()

    def env(self) -> dict[str, str]:
        return {
            "RUBBERDUCK_EMAIL_BACKEND": "smtp",
            "RUBBERDUCK_EMAIL_FROM": "Rubberduck <noreply@rubberduck.test>",
            "RUBBERDUCK_SMTP_HOST": "127.0.0.1",
            "RUBBERDUCK_SMTP_PORT": str(self.port),
            "RUBBERDUCK_SMTP_TLS": "none",
            "RUBBERDUCK_SMTP_USER": SMTP_USER,
            "RUBBERDUCK_SMTP_PASSWORD": SMTP_PASSWORD,
        }

    @staticmethod
    def _authenticate(_server: Any, _session: Any, _envelope: Any, _mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            SMTP_USER.encode(),
            SMTP_PASSWORD.encode(),
        )
        return AuthResult(success=ok)

    async def handle_DATA(self, _server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        received = Received(envelope.mail_from, list(envelope.rcpt_tos), message, bool(session.authenticated))
        with self._lock:
            self._received.append(received)
        return "250 OK"

    def messages(self, to: str) -> list[Received]:
        with self._lock:
            return [r for r in self._received if to in r.recipients]

    def wait_for(self, to: str, subject: str, count: int = 1, timeout: float = 10.0) -> Received:
        """The `count`-th message to `to` whose subject contains `subject`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            matching = [r for r in self.messages(to) if subject in str(r.message["subject"])]
            if len(matching) >= count:
                return matching[count - 1]
            time.sleep(0.05)
        raise AssertionError(f"no mail #{count} to {to} about {subject!r}; got {self.messages(to)}")
