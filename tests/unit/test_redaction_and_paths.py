"""Credential redaction, the proxy's path rules and the login throttle's keys, without a server."""

from __future__ import annotations

import logging
import os
import stat
import sys
from pathlib import Path

import pytest

from rubberduck.auth.throttle import LoginThrottle, address_key
from rubberduck.db.database import owner_only_sqlite
from rubberduck.proxy.paths import CLIMB_MESSAGE, CONTROL_MESSAGE, ENCODED_MESSAGE, path_problem
from rubberduck.redact import RedactingFilter, has_masked_credential, mask_url, redact, restore_masked


def test_urls_lose_their_password_and_secret_query_values() -> None:
    line = 'HTTP Request: POST http://u:pw@h:1/v1beta/m:gen?alt=sse&key=AIza1 "HTTP/1.1 200 OK"'
    assert (
        redact(line) == 'HTTP Request: POST http://u:***@h:1/v1beta/m:gen?alt=sse&key=*** "HTTP/1.1 200 OK"'
    )
    assert redact("https://h/x?API_KEY=a&api-key=b&subscription-key=c&x=1") == (
        "https://h/x?API_KEY=***&api-key=***&subscription-key=***&x=1"
    )
    # The console mailer's links must stay usable; addresses and plain text are left alone.
    assert (
        redact("see http://localhost/verify-email?token=abc") == "see http://localhost/verify-email?token=abc"
    )
    assert redact("e-mail to a@b.example: key = value") == "e-mail to a@b.example: key = value"


def test_a_masked_url_comes_back_as_the_stored_one() -> None:
    stored = "https://duck:s3cret@host/api?subscription-key=K&x=1"
    shown = mask_url(stored)
    assert shown == "https://duck:***@host/api?subscription-key=***&x=1"
    assert restore_masked(shown, stored) == stored  # sent back unchanged: keep
    assert restore_masked(shown.replace("host", "other"), stored) == stored.replace("host", "other")
    assert restore_masked("https://duck:new@host/api", stored) == "https://duck:new@host/api"
    nothing_behind = restore_masked(shown, "https://host/api")
    assert has_masked_credential(nothing_behind) and not has_masked_credential(stored)
    assert mask_url(None) is None and mask_url("http://h/x") == "http://h/x"


def test_the_log_filter_redacts_messages_arguments_and_tracebacks() -> None:
    try:
        raise ValueError("bad url http://u:pw@h/?key=AIza2")
    except ValueError:
        record = logging.LogRecord("httpx", logging.WARNING, __file__, 1, "to %s", ("http://h/?key=K",), None)
        record.exc_info = sys.exc_info()
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "to http://h/?key=***"
    assert record.exc_text is not None and "AIza2" not in record.exc_text and "pw@" not in record.exc_text


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("/v1/chat/completions", None),
        ("/v1/files/../models", None),  # stays inside: the upstream resolves it under its prefix
        ("/v1beta/models/gemini-2.0-flash:generateContent", None),
        ("/model/arn:aws:bedrock:us-east-1:1:inference-profile/us.m-v1:0/invoke", None),  # %2F decoded
        ("/model/m%3A0/invoke", None),  # a literal "%3A" (the client sent %253A)
        ("/v1/../../admin", CLIMB_MESSAGE),
        ("/..", CLIMB_MESSAGE),
        ("/v1/..\\..\\admin", CLIMB_MESSAGE),
        ("/v1//../../admin", CLIMB_MESSAGE),  # empty segments count for nothing: refused, never let through
        ("/v1/%2e%2e/%2E%2E/admin", CLIMB_MESSAGE),  # what a second decoding (Bedrock's, an upstream's) sees
        ("/v1/%252e%252e/%252e%252e/x", CLIMB_MESSAGE),
        ("/v1/mod\x00els", CONTROL_MESSAGE),
        ("/v1/models\n", CONTROL_MESSAGE),
        ("/v1/mod\x7fels", CONTROL_MESSAGE),
        ("/v1/mod%00els", CONTROL_MESSAGE),
        ("/v1/%2525252e", ENCODED_MESSAGE),
    ],
)
def test_path_rules(path: str, problem: str | None) -> None:
    assert path_problem(path) == problem


def test_failures_count_per_account_and_address_and_per_address() -> None:
    throttle = LoginThrottle(per_account=2, per_ip=3, window=60)
    for _ in range(2):
        throttle.failed("10.0.0.1", "Owner@x.test")
    assert throttle.retry_after("10.0.0.1", "owner@x.test") > 0
    assert throttle.retry_after("10.0.0.2", "owner@x.test") == 0  # the owner, elsewhere
    assert throttle.retry_after("10.0.0.1", "other@x.test") == 0
    throttle.failed("10.0.0.1", "other@x.test")
    assert throttle.retry_after("10.0.0.1", "third@x.test") > 0  # the address spent its failures
    throttle.succeeded("10.0.0.2", "owner@x.test")
    assert throttle.retry_after("10.0.0.1", "owner@x.test") > 0  # a success elsewhere clears nothing here


def test_ipv6_clients_are_counted_by_their_64() -> None:
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::/64"
    assert address_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert address_key("127.0.0.2") == "127.0.0.2" and address_key("unknown") == "unknown"


def test_an_existing_open_database_is_tightened(tmp_path: Path) -> None:
    database = tmp_path / "rubberduck.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").write_bytes(b"")
        os.chmod(f"{database}{suffix}", 0o644)
    owner_only_sqlite(str(database))
    modes = {suffix: stat.S_IMODE(os.stat(f"{database}{suffix}").st_mode) for suffix in ("", "-wal", "-shm")}
    assert modes == {"": 0o600, "-wal": 0o600, "-shm": 0o600}
    fresh = tmp_path / "fresh.db"
    owner_only_sqlite(str(fresh))
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
