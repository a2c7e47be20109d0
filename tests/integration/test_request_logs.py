"""Every proxied request leaves one log row of metadata: never a body, never a key."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.fakes.cassette import recordings
from tests.fakes.upstream import FakeUpstream
from tests.support import Api, RubberduckProcess, database_rows, proxy_url, stored_bytes

SENTINEL_KEY = "sk-SENTINEL-KEY-7f3a9c"
SENTINEL_PROMPT = "SENTINEL-PROMPT-b41e22"


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream()
    upstream.add(
        "POST", "/v1/chat/completions", recordings("openai", "chat_completions_nonstream_tools.yaml")[0]
    )
    with upstream:
        yield upstream


def log_rows(server: RubberduckProcess, proxy_id: int, expected: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 5
    while True:
        rows = database_rows(
            server, "select * from request_logs where proxy_id = :proxy order by created_at", proxy=proxy_id
        )
        if len(rows) >= expected or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def test_each_request_is_logged_with_metadata_only(
    server: RubberduckProcess, api: Api, fake: FakeUpstream
) -> None:
    proxy = api.running_proxy("openai", fake.url)
    sdk = openai.OpenAI(base_url=proxy_url(proxy) + "/v1", api_key=SENTINEL_KEY, max_retries=0)
    for _ in range(2):
        sdk.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": SENTINEL_PROMPT}]
        )
    rows = log_rows(server, proxy["id"], 2)  # rows are written as requests finish; their time is the start
    assert [row["cache_status"] for row in rows] == ["miss", "hit"]
    first, second = rows
    assert first["method"] == "POST" and first["path"] == "/v1/chat/completions"
    assert first["status"] == 200 and first["operation"] == "chat" and first["model"] == "gpt-4o-mini"
    assert first["client_ip"] == "127.0.0.1"
    assert first["cache_key"] == second["cache_key"] and len(first["cache_key"]) == 64
    assert first["latency_ms"] > 0 and first["upstream_ms"] is not None and second["upstream_ms"] is None
    assert first["user_id"] and first["created_at"]

    assert SENTINEL_KEY.encode() not in stored_bytes(server)  # a credential is stored nowhere
    # The prompt is in the recording (its canonical request explains replay misses), never in a log row.
    assert SENTINEL_PROMPT not in repr(log_rows(server, proxy["id"], 2))
    (row,) = database_rows(
        server,
        "select cast(request as text) as request from cache_entries where proxy_id = :proxy",
        proxy=proxy["id"],
    )
    recorded = row["request"]
    assert SENTINEL_PROMPT in recorded and SENTINEL_KEY not in recorded
    assert SENTINEL_KEY not in server.output() and SENTINEL_PROMPT not in server.output()
