from __future__ import annotations

from pathlib import Path

import pytest

from rubberduck.proxy.headers import cacheable_headers, client_response_headers, upstream_request_headers
from rubberduck.settings import Settings


def test_upstream_headers_drop_hop_by_hop_host_length_and_controls() -> None:
    headers = [
        (b"Host", b"localhost:8001"),
        (b"Authorization", b"Bearer sk"),
        (b"Connection", b"keep-alive, X-Private"),
        (b"X-Private", b"1"),
        (b"Content-Length", b"10"),
        (b"Transfer-Encoding", b"chunked"),
        (b"x-rubberduck-cache", b"bypass"),
        (b"anthropic-beta", b"a,b"),
    ]
    assert upstream_request_headers(headers) == [
        (b"authorization", b"Bearer sk"),
        (b"anthropic-beta", b"a,b"),
    ]


def test_response_headers_keep_encoding_and_drop_framing() -> None:
    headers = [
        (b"Content-Encoding", b"gzip"),
        (b"Transfer-Encoding", b"chunked"),
        (b"Content-Length", b"12"),
        (b"Date", b"today"),
        (b"x-request-id", b"req_1"),
    ]
    passed = client_response_headers(headers)
    assert (b"content-encoding", b"gzip") in passed and (b"transfer-encoding", b"chunked") not in passed
    assert cacheable_headers(passed) == [(b"content-encoding", b"gzip"), (b"x-request-id", b"req_1")]


def test_secret_is_generated_once_with_mode_0600(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "d")
    first = settings.resolved_secret()
    assert len(first) >= 32
    assert (tmp_path / "d" / "secret.key").stat().st_mode & 0o777 == 0o600
    assert Settings(data_dir=tmp_path / "d").resolved_secret() == first
    assert Settings(data_dir=tmp_path / "e", secret="configured").resolved_secret() == "configured"
    assert not (tmp_path / "e" / "secret.key").exists()


def test_settings_come_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUBBERDUCK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RUBBERDUCK_DATABASE_URL", "postgresql+asyncpg://u:p@localhost/rd")
    settings = Settings()
    assert settings.data_dir == tmp_path
    assert settings.resolved_database_url == "postgresql+asyncpg://u:p@localhost/rd"
    monkeypatch.delenv("RUBBERDUCK_DATABASE_URL")
    assert Settings().resolved_database_url.startswith("sqlite+aiosqlite:///")
