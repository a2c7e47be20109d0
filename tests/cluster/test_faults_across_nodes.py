"""Failure simulation across nodes: one rate-limit window, one fault sequence per seed, config pushed to all.

To know that a failure config has reached a node without drawing from its dice or its window, a probe comes
from an address the config blocks: the IP filter answers 403 before the rate limit and the faults run.
"""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from tests.cluster.nodes import CHAT, Cluster, Node, eventually, status_of
from tests.fakes.upstream import FakeUpstream
from tests.support import Api

_probe_ips = (f"127.0.1.{n}" for n in range(1, 255))
QUESTION: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}


def put_failure(cluster: Cluster, api: Api, proxy: dict[str, Any], **config: Any) -> None:
    """PUT the failure config through `api`, then wait (1 s at most) until every node applies it: the
    config blocks an address of its own, and a probe from there is refused by every node."""
    probe_ip = next(_probe_ips)
    api.set_failure(proxy["id"], **config, ip_block=[probe_ip])
    for node in cluster.nodes:
        wait_refused(node, proxy, probe_ip)


def wait_refused(node: Node, proxy: dict[str, Any], probe_ip: str) -> None:
    def refused() -> bool | None:
        with httpx.Client(transport=httpx.HTTPTransport(local_address=probe_ip), timeout=5) as client:
            return (
                True if client.post(node.proxy_url(proxy) + CHAT, json=QUESTION).status_code == 403 else None
            )

    eventually(refused, 1.0, f"the failure config did not reach {node.host}")


def ask(node: Node, proxy: dict[str, Any]) -> Any:
    return node.openai(proxy).chat.completions.with_raw_response.create(**QUESTION)


def test_a_failure_config_set_on_a_applies_on_b_within_a_second(
    cluster: Cluster, users: tuple[Api, Api], fake: FakeUpstream
) -> None:
    on_a, on_b = users
    proxy = cluster.running_proxy(on_a, "openai", fake.url)
    assert status_of(ask, cluster.b, proxy) == 200
    on_a.set_failure(proxy["id"], errors=[{"status": 500, "rate": 1.0}])
    eventually(lambda: True if status_of(ask, cluster.b, proxy) == 500 else None, 1.0, "no 500 on B")
    with pytest.raises(openai.InternalServerError):
        ask(cluster.a, proxy)

    on_b.set_failure(proxy["id"])  # back to no faults, through the other node
    eventually(lambda: True if status_of(ask, cluster.a, proxy) == 200 else None, 1.0, "A still fails")
    assert on_a.http.get(f"/api/proxies/{proxy['id']}/failure").json()["errors"] == []


def test_rpm_10_admits_exactly_10_across_both_nodes(
    cluster: Cluster, users: tuple[Api, Api], fake: FakeUpstream
) -> None:
    on_a, _ = users
    proxy = cluster.running_proxy(on_a, "openai", fake.url)
    put_failure(cluster, on_a, proxy, rate_limit={"rpm": 10})

    remaining = []
    for index in range(10):
        answer = ask(cluster.nodes[index % 2], proxy)
        assert answer.headers["x-ratelimit-limit-requests"] == "10"
        remaining.append(int(answer.headers["x-ratelimit-remaining-requests"]))
    assert remaining == list(range(9, -1, -1))  # one window: each node sees the other's requests

    for node in (cluster.a, cluster.b):
        with pytest.raises(openai.RateLimitError) as refused:
            ask(node, proxy)
        headers = refused.value.response.headers
        assert 0 < float(headers["retry-after"]) <= 60, headers["retry-after"]
        assert (headers["x-ratelimit-limit-requests"], headers["x-ratelimit-remaining-requests"]) == (
            "10",
            "0",
        )
    assert fake.count("POST", CHAT) == 1  # the first answer was recorded, the other nine were hits


def test_one_seed_gives_one_fault_sequence_whichever_node_answers(
    cluster: Cluster, users: tuple[Api, Api], fake: FakeUpstream
) -> None:
    on_a, on_b = users
    proxy = cluster.running_proxy(on_a, "openai", fake.url)
    config: dict[str, Any] = {
        "seed": 99,
        "errors": [{"status": 429, "rate": 0.3}, {"status": 503, "rate": 0.2}],
    }

    def run(nodes: list[Node]) -> list[int]:
        return [status_of(ask, nodes[i % len(nodes)], proxy) for i in range(30)]

    # Each PUT re-seeds the dice (the blocked probe address differs each time; the dice ignore it).
    put_failure(cluster, on_a, proxy, **config)
    alternating = run([cluster.a, cluster.b])
    put_failure(cluster, on_b, proxy, **config)
    only_b = run([cluster.b])
    put_failure(cluster, on_a, proxy, **config)
    only_a = run([cluster.a])
    assert alternating == only_b == only_a
    assert {200, 429, 503} == set(alternating)

    put_failure(cluster, on_b, proxy, **{**config, "seed": 100})
    assert run([cluster.b, cluster.a]) != alternating  # the sequence is the seed's, not a constant
