"""Log rows across nodes: each node writes its own, every node's API shows all of them once, the live
stream of one node carries what another served, and none are lost at 10,000 requests."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from typing import Any

import httpx

from tests.cluster.loadgen import chat_load
from tests.cluster.nodes import CHAT, Cluster, Node, eventually, exported, flushed_totals
from tests.fakes.upstream import FakeUpstream
from tests.support import Api


def send(node: Node, proxy: dict[str, Any], model: str) -> None:
    answer = node.openai(proxy).chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": "Hi"}]
    )
    assert answer.http_response.status_code == 200


def test_get_api_logs_on_either_node_shows_both_nodes_rows_once(
    cluster: Cluster, users: tuple[Api, Api], fake: FakeUpstream
) -> None:
    on_a, on_b = users
    proxy = cluster.running_proxy(on_a, "openai", fake.url)
    for _ in range(3):
        send(cluster.a, proxy, "model-on-a")
    for _ in range(4):
        send(cluster.b, proxy, "model-on-b")
    assert flushed_totals(cluster, on_a, proxy["id"]) == [7, 7]  # roll-ups count each request once

    for api in (on_a, on_b):
        page = api.http.get("/api/logs", params={"proxy_id": proxy["id"], "limit": 500}).json()["items"]
        assert len(page) == 7 and len({row["id"] for row in page}) == 7, page
        assert Counter(row["model"] for row in page) == {"model-on-a": 3, "model-on-b": 4}
        assert Counter(row["cache_status"] for row in page) == {"miss": 2, "hit": 5}
        for model, count in (("model-on-a", 3), ("model-on-b", 4)):
            filtered = api.http.get("/api/logs", params={"proxy_id": proxy["id"], "model": model})
            assert len(filtered.json()["items"]) == count


def test_a_live_stream_on_a_shows_the_requests_b_served(
    cluster: Cluster, users: tuple[Api, Api], fake: FakeUpstream
) -> None:
    on_a, _ = users
    proxy = cluster.running_proxy(on_a, "openai", fake.url)
    received: list[tuple[float, dict[str, Any]]] = []
    ready, done = threading.Event(), threading.Event()

    def listen() -> None:
        token = str(on_a.http.headers["authorization"]).removeprefix("Bearer ")
        params = {"access_token": token, "proxy_id": proxy["id"]}
        with httpx.stream("GET", cluster.a.url + "/api/logs/stream", params=params, timeout=15) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                ready.set()
                if done.is_set():
                    return
                if line.startswith("data: "):
                    received.append((time.monotonic(), json.loads(line[6:])))

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert ready.wait(5)
    sent_at = time.monotonic()
    send(cluster.b, proxy, "served-by-b")
    eventually(lambda: True if received else None, 2, "no live row on A for B's request")
    assert received[0][0] - sent_at < 1.0
    send(cluster.a, proxy, "served-by-a")
    eventually(lambda: True if len(received) >= 2 else None, 2, "no live row for A's own request")
    time.sleep(0.5)  # room for a duplicate to show up: each row must come once
    assert [row["model"] for _, row in received] == ["served-by-b", "served-by-a"]
    done.set()
    send(cluster.b, proxy, "wake-up")  # its row wakes the listener, which then hangs up
    listener.join(5)
    assert not listener.is_alive()


def test_10000_requests_over_two_nodes_leave_exactly_10000_log_rows(
    cluster: Cluster, users: tuple[Api, Api], fake: FakeUpstream
) -> None:
    on_a, on_b = users
    proxy = cluster.running_proxy(on_a, "openai", fake.url)
    total = 10_000
    targets = [(node.host, proxy["port"]) for node in (cluster.a, cluster.b)]
    assert asyncio.run(chat_load(targets, 2, 1)) == {200: 2}  # one miss per node's model: the rest hit
    began = time.monotonic()
    statuses = asyncio.run(chat_load(targets, total - 2, 20))
    elapsed = time.monotonic() - began
    assert statuses == {200: total - 2}, statuses
    assert fake.count("POST", CHAT) == 2

    assert flushed_totals(cluster, on_a, proxy["id"]) == [total, total], f"sent in {elapsed:.1f} s"
    for api in (on_a, on_b):
        rows = exported(api, proxy["id"])
        assert len(rows) == total and len({row["id"] for row in rows}) == total
        assert Counter(row["model"] for row in rows) == {"bulk-0": total // 2, "bulk-1": total // 2}
