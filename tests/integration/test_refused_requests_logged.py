"""Requests a proxy refuses before its pipeline (body too large, invalid JSON) still get a log row."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.support import Api, RubberduckProcess, proxy_url

LIMIT = 4096
MARKER = "do-not-log-this-body"


@pytest.fixture(scope="module")
def small_limit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RubberduckProcess]:
    process = RubberduckProcess(
        tmp_path_factory.mktemp("refused") / "data", env={"RUBBERDUCK_MAX_REQUEST_BYTES": str(LIMIT)}
    )
    yield process.start()
    process.stop()


def _rows(api: Api, proxy_id: int, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while True:
        items: list[dict[str, Any]] = api.http.get("/api/logs", params={"proxy_id": proxy_id}).json()["items"]
        if len(items) >= count or time.monotonic() > deadline:
            return items[::-1]  # oldest first
        time.sleep(0.1)


def test_too_large_and_invalid_json_answers_are_logged_without_their_bodies(
    small_limit_server: RubberduckProcess, tmp_path: Path
) -> None:
    api = Api.new_user(small_limit_server.url, "refused@example.com")
    proxy = api.running_proxy("openai", "http://127.0.0.1:9")  # never reached
    chat = proxy_url(proxy) + "/v1/chat/completions?api_key=secret-query"

    def chunked() -> Iterator[bytes]:  # no declared length: the limit is found while reading
        for _ in range(4):
            yield (MARKER * 100).encode()[: LIMIT // 2]

    too_large = httpx.post(chat, content=chunked(), headers={"content-type": "application/json"}, timeout=10)
    assert too_large.status_code == 413, too_large.text
    assert too_large.json()["error"]["message"]
    invalid = httpx.post(
        chat, content=b'{"model": "gpt-4o", "' + MARKER.encode(), headers={"content-type": "application/json"}
    )
    assert invalid.status_code == 400 and "JSON" in invalid.json()["error"]["message"]

    rows = _rows(api, proxy["id"], 2)
    assert [(r["status"], r["method"], r["path"], r["operation"]) for r in rows] == [
        (413, "POST", "/v1/chat/completions", "chat"),
        (400, "POST", "/v1/chat/completions", "chat"),
    ]
    assert rows[0]["error"].startswith("request_too_large")
    assert rows[1]["error"].startswith("invalid_request") and "JSON" in rows[1]["error"]
    for row in rows:
        assert row["cache_status"] == "bypass" and row["fault"] is None and row["latency_ms"] >= 0
    text = orjson.dumps(rows).decode()
    assert MARKER not in text and "secret-query" not in text  # never the body, never the query


def test_requests_the_http_server_or_the_path_check_refuses_are_logged_too(
    small_limit_server: RubberduckProcess,
) -> None:
    """A declared length over the limit, headers too large and a path climbing above the root are answered
    before the pipeline, in the provider's format, and each leaves its row (never the query)."""
    api = Api.new_user(small_limit_server.url, "refused-early@example.com")
    proxy = api.running_proxy("anthropic", "http://127.0.0.1:9")  # never reached
    port = proxy["port"]

    def raw(request: bytes) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(request)
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
        return received

    declared = raw(
        b"POST /v1/messages?key=secret-query HTTP/1.1\r\nHost: x\r\nContent-Length: 10737418240\r\n\r\nx"
    )
    assert declared.startswith(b"HTTP/1.1 413 ") and b'"type":"error"' in declared.replace(b" ", b"")
    huge_header = raw(b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n")
    assert huge_header.startswith(b"HTTP/1.1 431 ")
    climbing = raw(b"GET /v1/../../admin/secret HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert climbing.startswith(b"HTTP/1.1 400 ")

    rows = _rows(api, proxy["id"], 3)
    assert [(r["status"], r["method"], r["path"]) for r in rows] == [
        (413, "POST", "/v1/messages"),
        (431, "GET", "/v1/models"),
        (400, "GET", "/v1/../../admin/secret"),
    ]
    assert rows[0]["operation"] == "messages"
    assert all(row["error"] for row in rows)
    assert "secret-query" not in orjson.dumps(rows).decode()
