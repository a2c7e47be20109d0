"""An engine fails under two running nodes, then comes back. Each test has its own engines and nodes, so
stopping them never disturbs the shared pair the other modules use.

Redis down: proxies keep answering with little extra delay (memory hits, misses upstream in `record` mode,
a clear native error for a `replay` miss), /healthz says `degraded` naming redis, and once Redis is back
the nodes are healthy again and config pushes flow, the ones made during the outage included.
Postgres down: proxies keep serving, the API answers 503 quickly, and the log rows queued meanwhile are
written once it returns, each once.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.cluster.nodes import Cluster, Node, eventually, exported, flushed_totals, start_cluster, status_of
from tests.engines import PostgresServer, RedisServer, engines_available
from tests.fakes.upstream import FakeUpstream

# The product's bound is 50 ms per Redis operation (then a circuit breaker skips Redis altogether); the
# test allows more, as this machine is shared, but far less than any timeout a client would notice.
EXTRA_DELAY_S = 0.15
API_ANSWER_S = 5.0


@pytest.fixture
def own(tmp_path: Path) -> Iterator[Cluster]:
    missing = engines_available()
    if missing:
        pytest.skip(f"the engine-failure tests need real engines; missing: {missing}")
    postgres = PostgresServer().start()
    redis = RedisServer().start()
    try:
        cluster = start_cluster(postgres, redis, tmp_path)
    except BaseException:
        redis.destroy()
        postgres.destroy()
        raise
    yield cluster
    cluster.close()
    redis.destroy()
    postgres.destroy()


def ask(node: Node, proxy: dict[str, Any], content: str = "Hi") -> Any:
    return node.openai(proxy).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": content}]
    )


def timed_hits(node: Node, proxy: dict[str, Any], count: int = 10) -> list[float]:
    """Seconds per request; each one must be a cache hit."""
    times = []
    for _ in range(count):
        began = time.monotonic()
        raw = ask(node, proxy)
        times.append(time.monotonic() - began)
        assert raw.headers["x-rubberduck-cache"] == "hit"
    return times


def health(node: Node) -> tuple[str, str]:
    """(status, its reasons as one lower-case text, to look for an engine's name)."""
    answer = httpx.get(node.url + "/healthz", timeout=API_ANSWER_S).json()
    return str(answer["status"]), " | ".join(answer.get("reasons", [])).lower()


def wait_health(node: Node, status: str, seconds: float, naming: str | None = None) -> None:
    def reached() -> bool | None:
        found, reasons = health(node)
        return True if found == status and (naming is None or naming in reasons) else None

    eventually(reached, seconds, f"{node.host} /healthz is not {status!r} naming {naming!r}", every=0.1)


def test_redis_stopped_mid_run_then_restarted(own: Cluster, fake: FakeUpstream) -> None:
    on_a, on_b = own.users()
    record = own.running_proxy(on_a, "openai", fake.url)
    replay = own.running_proxy(on_a, "openai", fake.url, cache={"mode": "replay"})
    on_a.set_failure(record["id"], rate_limit={"rpm": 10_000})  # every request asks Redis for its window
    assert ask(own.a, record).headers["x-rubberduck-cache"] == "miss"
    before = {node.host: statistics.median(timed_hits(node, record)) for node in own.nodes}

    own.redis.stop()
    for node in own.nodes:  # from each node's memory, the rate limit failing open, little extra delay
        during = timed_hits(node, record)
        assert statistics.median(during) - before[node.host] < EXTRA_DELAY_S, (node.host, before, during)
        assert max(during) < 1.0, during
    for index, node in enumerate(own.nodes):
        began = time.monotonic()
        miss = ask(node, record, f"new while Redis is down {index}")  # record mode: upstream, fail open
        assert miss.headers["x-rubberduck-cache"] == "miss" and time.monotonic() - began < 1.0
        began = time.monotonic()
        with pytest.raises(openai.NotFoundError) as caught:
            ask(node, replay)  # replay mode: nothing recorded, a native 404 rather than a hang
        assert caught.value.code == "replay_miss" and time.monotonic() - began < 1.0
        wait_health(node, "degraded", 2.0, naming="redis")

    # Made during the outage: node B cannot be told now and must catch up once Redis is back.
    on_a.set_failure(record["id"], errors=[{"status": 500, "rate": 1.0}])

    own.redis.resume()
    for node in own.nodes:
        wait_health(node, "ok", 5.0)
    eventually(lambda: True if status_of(ask, own.b, record) == 500 else None, 3.0, "B did not resync")
    on_b.set_failure(record["id"])  # and pushes flow again, within the usual second
    eventually(lambda: True if status_of(ask, own.a, record) == 200 else None, 1.0, "no push to A")
    assert ask(own.b, record, "after the outage").headers["x-rubberduck-cache"] == "miss"
    assert ask(own.a, record, "after the outage").headers["x-rubberduck-cache"] == "hit"


def test_postgres_stopped_then_restarted(own: Cluster, fake: FakeUpstream) -> None:
    on_a, on_b = own.users()
    proxy = own.running_proxy(on_a, "openai", fake.url)
    assert ask(own.a, proxy).headers["x-rubberduck-cache"] == "miss"
    assert ask(own.b, proxy).headers["x-rubberduck-cache"] == "hit"
    sent = 2

    own.postgres.stop()
    for index in range(10):  # both nodes keep serving from their current config and caches
        assert ask(own.nodes[index % 2], proxy).headers["x-rubberduck-cache"] == "hit"
    assert status_of(ask, own.b, proxy, "new while Postgres is down") == 200  # a miss still goes upstream
    sent += 11
    for api in (on_a, on_b):
        began = time.monotonic()
        response = api.http.get("/api/proxies", timeout=30)
        assert time.monotonic() - began < API_ANSWER_S
        assert response.status_code == 503, (str(api.http.base_url), response.text)
        assert "database" in response.json()["detail"].lower()
    for node in own.nodes:
        began = time.monotonic()
        wait_health(node, "degraded", API_ANSWER_S, naming="database")
        assert time.monotonic() - began < API_ANSWER_S

    own.postgres.resume()
    for node in own.nodes:
        wait_health(node, "ok", 10.0)
    eventually(lambda: True if len(exported(on_a, proxy["id"])) >= sent else None, 20, "rows not written")
    assert flushed_totals(own, on_a, proxy["id"]) == [sent, sent]
    rows = exported(on_b, proxy["id"])
    assert len(rows) == sent and len({row["id"] for row in rows}) == sent
    assert [node.health()["log_rows_dropped"] for node in own.nodes] == [0, 0]  # queued, none dropped
