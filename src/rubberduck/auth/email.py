"""Outgoing e-mail: verification and password-reset links, through console, SMTP or SendGrid."""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Protocol
from urllib.parse import quote

import httpx

from rubberduck.auth.throttle import SlidingWindow
from rubberduck.settings import Settings

logger = logging.getLogger("rubberduck.email")

SEND_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    text: str


class Mailer(Protocol):
    async def send(self, email: Email) -> None: ...


class ConsoleMailer:
    """The default: the message, link included, goes to the server log (local use, no mail server)."""

    async def send(self, email: Email) -> None:
        logger.info("e-mail to %s: %s\n%s", email.to, email.subject, email.text)


class SmtpMailer:
    def __init__(self, settings: Settings) -> None:
        self.host = settings.smtp_host
        self.port = settings.smtp_port
        self.user = settings.smtp_user
        self.password = settings.smtp_password
        self.tls = settings.smtp_tls
        self.sender = settings.email_from

    async def send(self, email: Email) -> None:
        # smtplib blocks: run it off the event loop the proxies share.
        await asyncio.to_thread(self._send_blocking, email)

    def _send_blocking(self, email: Email) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = email.to
        message["Subject"] = email.subject
        message.set_content(email.text)
        context = ssl.create_default_context()
        client: smtplib.SMTP
        if self.tls == "ssl":
            client = smtplib.SMTP_SSL(self.host, self.port, timeout=SEND_TIMEOUT_SECONDS, context=context)
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=SEND_TIMEOUT_SECONDS)
        with client:
            if self.tls == "starttls":
                client.starttls(context=context)
            if self.user:
                client.login(self.user, self.password)
            client.send_message(message)


class SendgridMailer:
    def __init__(self, settings: Settings) -> None:
        self.url = settings.sendgrid_api_url
        self.api_key = settings.sendgrid_api_key
        self.sender = settings.email_from

    async def send(self, email: Email) -> None:
        name, address = parseaddr(self.sender)
        sender = {"email": address, "name": name} if name else {"email": address}
        body = {
            "personalizations": [{"to": [{"email": email.to}]}],
            "from": sender,
            "subject": email.subject,
            "content": [{"type": "text/plain", "value": email.text}],
        }
        headers = {"Authorization": f"Bearer {self.api_key}"}
        async with httpx.AsyncClient(timeout=SEND_TIMEOUT_SECONDS) as client:
            response = await client.post(self.url, json=body, headers=headers)
        if response.status_code >= 300:
            raise RuntimeError(f"SendGrid answered {response.status_code}")


def build_mailer(settings: Settings) -> Mailer:
    if settings.email_backend == "smtp":
        return SmtpMailer(settings)
    if settings.email_backend == "sendgrid":
        if not settings.sendgrid_api_key:
            raise ValueError("RUBBERDUCK_EMAIL_BACKEND=sendgrid needs RUBBERDUCK_SENDGRID_API_KEY")
        return SendgridMailer(settings)
    return ConsoleMailer()


class Outbox:
    """Sends in the background, so a request never waits on a mail server and its timing does not
    tell whether an address has an account. Caps mails per recipient so nobody can flood an inbox."""

    def __init__(self, mailer: Mailer, per_recipient_per_hour: int = 10) -> None:
        self.mailer = mailer
        self.per_recipient = SlidingWindow(per_recipient_per_hour, 3600.0)
        self._tasks: set[asyncio.Task[None]] = set()

    def send(self, email: Email) -> None:
        recipient = email.to.lower()
        if self.per_recipient.retry_after(recipient):
            logger.warning("not sending %r to %s: too many e-mails to this address", email.subject, email.to)
            return
        self.per_recipient.hit(recipient)
        task = asyncio.get_running_loop().create_task(self._deliver(email))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, email: Email) -> None:
        try:
            await self.mailer.send(email)
        except Exception as exc:  # a mail failure must not take anything else down; say what failed
            logger.error("could not send %r to %s: %s: %s", email.subject, email.to, type(exc).__name__, exc)

    async def drain(self) -> None:
        """Wait for mails already handed over (at shutdown)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=SEND_TIMEOUT_SECONDS)


def verification_email(public_url: str, to: str, token: str) -> Email:
    link = f"{public_url}/verify-email?token={quote(token)}"
    text = (
        f"Confirm the e-mail address of your Rubberduck account by opening this link:\n\n{link}\n\n"
        "The link is valid for one hour. If you did not create an account, ignore this message.\n"
    )
    return Email(to, "Confirm your Rubberduck e-mail address", text)


def reset_email(public_url: str, to: str, token: str) -> Email:
    link = f"{public_url}/reset-password?token={quote(token)}"
    text = (
        f"Choose a new password for your Rubberduck account by opening this link:\n\n{link}\n\n"
        "The link is valid for one hour and works once. If you did not ask for it, ignore this message.\n"
    )
    return Email(to, "Reset your Rubberduck password", text)
