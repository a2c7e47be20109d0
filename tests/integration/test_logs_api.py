"""The log API through real requests: filters, pages, export, purge, the live stream and metrics."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.fakes.cassette import recordings
from tests.fakes.upstream import FakeUpstream
from tests.support import Api, RubberduckProcess, proxy_url

CHAT = "/v1/chat/completions"


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream()
    upstream.add("POST", CHAT, recordings("openai", "chat_completions_nonstream_tools.yaml")[0])
    with upstream:
        yield upstream


def send(proxy: dict[str, Any], model: str = "gpt-4o-mini", fault: str | None = None) -> httpx.Response:
    headers = {"x-rubberduck-fault": fault} if fault else {}
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    return httpx.post(proxy_url(proxy) + CHAT, json=body, headers=headers, timeout=10)


def wait_for_rows(api: Api, count: int, **params: Any) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while True:
        items = api.http.get("/api/logs", params={"limit": 500, **params}).json()["items"]
        if len(items) >= count or time.monotonic() > deadline:
            return list(items)
        time.sleep(0.1)


@pytest.fixture
def history(api: Api, fake: FakeUpstream) -> dict[str, Any]:
    """A known request history: 2 misses, 3 hits, a simulated 429 and a 503, on one proxy."""
    proxy = api.running_proxy("openai", fake.url)
    api.set_failure(proxy["id"], allow_header_faults=True)
    send(proxy)
    send(proxy)
    send(proxy)
    send(proxy, model="gpt-4o")
    send(proxy, model="gpt-4o")
    send(proxy, fault="429")
    send(proxy, fault="503")
    assert len(wait_for_rows(api, 7)) == 7
    return proxy


def test_filters_select_exactly_the_matching_rows(api: Api, history: dict[str, Any]) -> None:
    def count(**params: Any) -> int:
        return len(api.http.get("/api/logs", params={"limit": 500, **params}).json()["items"])

    assert count() == 7
    assert count(proxy_id=history["id"]) == 7
    assert count(status="4xx") == 1 and count(status="5xx") == 1 and count(status="200") == 5
    assert count(status="429") == 1
    # Simulated errors answer before the cache is consulted: they are neither hits nor misses.
    assert (
        count(cache_status="hit") == 3
        and count(cache_status="miss") == 2
        and count(cache_status="bypass") == 2
    )
    assert count(fault="error_429") == 1 and count(fault="none") == 5
    assert count(model="gpt-4o") == 2
    future = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    assert count(since=future) == 0 and count(until=future) == 7
    assert api.http.get("/api/logs", params={"status": "4x"}).status_code == 422


def test_rows_carry_usage_and_cost(api: Api, history: dict[str, Any]) -> None:
    rows = wait_for_rows(api, 7, status="200")
    hit = next(r for r in rows if r["cache_status"] == "hit" and r["model"] == "gpt-4o-mini")
    miss = next(r for r in rows if r["cache_status"] == "miss" and r["model"] == "gpt-4o-mini")
    assert (miss["input_tokens"], miss["output_tokens"]) == (92, 17)
    assert miss["cost_usd"] == pytest.approx((92 * 0.15 + 17 * 0.6) / 1e6)
    assert hit["cost_usd"] == 0 and hit["saved_usd"] == pytest.approx(miss["cost_usd"])


def test_pages_walk_every_row_once_newest_first(api: Api, history: dict[str, Any]) -> None:
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = api.http.get("/api/logs", params={"limit": 2, **({"cursor": cursor} if cursor else {})}).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 7 and len({row["id"] for row in seen}) == 7
    times = [row["created_at"] for row in seen]
    assert times == sorted(times, reverse=True)
    assert api.http.get("/api/logs", params={"cursor": "garbage"}).status_code == 422


def test_other_users_see_none_of_it(server: RubberduckProcess, api: Api, history: dict[str, Any]) -> None:
    other = Api.new_user(server.url, f"logs-other-{history['id']}@example.com")
    assert other.http.get("/api/logs").json()["items"] == []
    assert other.http.get("/api/logs", params={"proxy_id": history["id"]}).json()["items"] == []
    assert other.http.get("/api/logs/export", params={"format": "json"}).json() == []
    assert other.http.get("/api/metrics", params={"proxy_id": history["id"]}).status_code == 404


def test_export_csv_and_json_with_filters(api: Api, history: dict[str, Any]) -> None:
    exported = api.http.get("/api/logs/export", params={"format": "csv"})
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == 7 and {r["status"] for r in rows} == {"200", "429", "503"}
    as_json = api.http.get("/api/logs/export", params={"format": "json", "cache_status": "hit"})
    parsed = json.loads(as_json.content)
    assert len(parsed) == 3 and all(row["cache_status"] == "hit" for row in parsed)


def test_purge_a_date_range(api: Api, history: dict[str, Any]) -> None:
    rows = wait_for_rows(api, 7)
    middle = sorted(row["created_at"] for row in rows)[3]
    assert api.http.delete("/api/logs").status_code == 422  # no range: refuse rather than wipe everything
    purged = api.http.delete("/api/logs", params={"until": middle})
    assert purged.json() == {"deleted": 3}
    assert len(api.http.get("/api/logs").json()["items"]) == 4
    assert api.http.delete("/api/logs", params={"since": "2000-01-01T00:00:00Z"}).json() == {"deleted": 4}


def test_live_stream_delivers_new_rows_within_a_second(api: Api, fake: FakeUpstream) -> None:
    proxy = api.running_proxy("openai", fake.url)
    received: list[tuple[float, dict[str, Any]]] = []
    ready = threading.Event()

    def listen() -> None:
        token = api.http.headers["authorization"].removeprefix("Bearer ")
        params = {"access_token": token, "proxy_id": proxy["id"], "status": "2xx"}
        with httpx.stream(
            "GET", api.http.base_url.join("/api/logs/stream"), params=params, timeout=15
        ) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                ready.set()
                if line.startswith("data: "):
                    received.append((time.monotonic(), json.loads(line[6:])))
                    if len(received) == 2:
                        return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert ready.wait(5)
    sent_at = time.monotonic()
    send(proxy)
    send(proxy)
    listener.join(10)
    assert [row["cache_status"] for _, row in received] == ["miss", "hit"]
    assert received[0][0] - sent_at < 1.0
    assert httpx.get(api.http.base_url.join("/api/logs/stream")).status_code == 401


def test_metrics_roll_up_the_known_history(api: Api, history: dict[str, Any]) -> None:
    metrics = api.http.get("/api/metrics", params={"window": "1h"}).json()
    totals = metrics["totals"]
    assert totals["requests"] == 7
    assert totals["cache_hit_rate"] == pytest.approx(3 / 7)
    assert totals["error_rate"] == pytest.approx(2 / 7)
    assert totals["input_tokens"] == 5 * 92 and totals["output_tokens"] == 5 * 17
    assert totals["cost_usd"] > 0 and totals["saved_usd"] > 0
    assert totals["p50_ms"] is not None and totals["p95_ms"] >= totals["p50_ms"]
    assert sum(point["requests"] for point in metrics["series"]) == 7
    assert metrics["proxies"] == {"running": 1, "stopped": 0} and metrics["in_flight"] == 0
    assert metrics["resolution"] == "1m"
    assert api.http.get("/api/metrics", params={"window": "24h"}).json()["totals"]["requests"] == 7
    assert (
        api.http.get("/api/metrics", params={"window": "7d", "proxy_id": history["id"]}).json()["resolution"]
        == "1h"
    )
