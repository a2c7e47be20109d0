"""Nodes come and go: one that joins serves every running proxy, one that leaves changes nothing."""

from __future__ import annotations

from tests.cluster.nodes import Cluster, ask, wait_serving
from tests.fakes.upstream import FakeUpstream
from tests.support import Api


def test_a_node_that_joins_serves_the_running_proxies_and_one_that_leaves_changes_nothing(
    cluster: Cluster, users: tuple[Api, Api], fake: FakeUpstream
) -> None:
    on_a, on_b = users
    running = cluster.running_proxy(on_a, "openai", fake.url)
    stopped = on_a.create_proxy(provider="openai", upstream_url=fake.url)
    assert ask(cluster.a, running) == ("miss", "answer 1")

    joined = cluster.add_node()  # 127.0.0.3: ready once its /healthz answers
    try:
        wait_serving(joined, running, 5)
        assert not joined.serves(stopped)
        assert ask(joined, running) == ("hit", "answer 1")  # the shared cache, not its own
        on_joined = cluster.as_user(on_a, joined)  # the same login on the newcomer
        listing = on_joined.http.get("/api/proxies")
        assert listing.status_code == 200, listing.text
        assert {p["id"]: p["status"] for p in listing.json()} == {
            running["id"]: "running",
            stopped["id"]: "stopped",
        }
        on_joined.start(stopped["id"])  # a proxy started through the newcomer runs everywhere
        for node in cluster.nodes:
            wait_serving(node, stopped, 1.0)
    finally:
        cluster.remove_node(joined)  # a clean stop (SIGTERM), as an operator scales down

    for proxy in (running, stopped):
        assert on_b.http.get(f"/api/proxies/{proxy['id']}").json()["status"] == "running"
        for node in (cluster.a, cluster.b):
            assert node.serves(proxy), (node.host, proxy["id"])
    assert ask(cluster.b, running) == ("hit", "answer 1")
    assert ask(cluster.a, stopped)[0] == "miss"
    assert ask(cluster.b, stopped)[0] == "hit"
    assert fake.count("POST", "/v1/chat/completions") == 2
