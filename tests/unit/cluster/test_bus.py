"""The cluster bus: messages reach the other nodes, a fence waits for their handlers, an outage heals."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from rubberduck.cluster.bus import ClusterBus
from rubberduck.cluster.link import RedisLink
from tests.engines import RedisServer
from tests.unit.cluster.conftest import HOT_PATH_TIMEOUT, wait_until


class Inbox:
    def __init__(self, delay: float = 0.0) -> None:
        self.payloads: list[dict[str, Any]] = []
        self.handled: list[float] = []
        self.delay = delay
        self.arrived = asyncio.Event()

    async def __call__(self, payload: dict[str, Any]) -> None:
        await asyncio.sleep(self.delay)
        self.payloads.append(payload)
        self.handled.append(time.monotonic())
        self.arrived.set()


@pytest.fixture
async def buses(link: RedisLink, other_link: RedisLink) -> AsyncIterator[tuple[ClusterBus, ClusterBus]]:
    node_a, node_b = ClusterBus(link, "node-a"), ClusterBus(other_link, "node-b")
    await node_a.start()
    await node_b.start()
    assert node_a.connected and node_b.connected
    yield node_a, node_b
    await node_a.aclose()
    await node_b.aclose()


async def test_a_message_reaches_the_other_node_not_the_sender(buses: tuple[ClusterBus, ClusterBus]) -> None:
    node_a, node_b = buses
    at_a, at_b, other_kind = Inbox(), Inbox(), Inbox()
    node_a.subscribe("logs", at_a)
    node_b.subscribe("logs", at_b)
    node_b.subscribe("config", other_kind)
    rows = [{"id": 1, "path": "/v1/chat/completions", "cost": 0.25, "node": "node-a"}]
    assert await node_a.publish("logs", {"rows": rows})
    await asyncio.wait_for(at_b.arrived.wait(), 2)
    assert at_b.payloads == [{"rows": rows}]
    await asyncio.sleep(0.1)
    assert at_a.payloads == [] and other_kind.payloads == []


async def test_include_self_delivers_to_the_sender_too_and_order_is_kept(
    buses: tuple[ClusterBus, ClusterBus],
) -> None:
    node_a, node_b = buses
    at_a, at_b = Inbox(), Inbox()
    node_a.subscribe("config", at_a)
    node_b.subscribe("config", at_b)
    for number in range(20):
        await node_a.publish("config", {"n": number}, include_self=True)
    await wait_until(lambda: len(at_a.payloads) == len(at_b.payloads) == 20)
    assert at_a.payloads == at_b.payloads == [{"n": number} for number in range(20)]


async def test_a_fence_returns_only_after_every_node_ran_its_handler(
    buses: tuple[ClusterBus, ClusterBus],
) -> None:
    node_a, node_b = buses
    slow = Inbox(delay=0.2)
    node_b.subscribe("evict", slow)
    started = time.monotonic()
    assert await node_a.fence("evict", {"proxy_id": 3}, timeout=2.0)
    returned = time.monotonic()
    assert slow.payloads == [{"proxy_id": 3}]
    assert returned - started >= 0.2 and slow.handled[0] <= returned


async def test_a_fence_gives_up_at_its_timeout_when_a_node_is_too_slow(
    buses: tuple[ClusterBus, ClusterBus],
) -> None:
    node_a, node_b = buses
    node_b.subscribe("evict", Inbox(delay=1.0))
    started = time.monotonic()
    assert not await node_a.fence("evict", {}, timeout=0.3)
    assert 0.25 < time.monotonic() - started < 1.0


async def test_a_fence_with_include_self_waits_for_the_senders_handler(
    buses: tuple[ClusterBus, ClusterBus],
) -> None:
    node_a, node_b = buses
    at_a, at_b = Inbox(delay=0.2), Inbox()
    node_a.subscribe("evict", at_a)
    node_b.subscribe("evict", at_b)
    assert await node_a.fence("evict", {"k": 1}, timeout=2.0, include_self=True)
    assert at_a.payloads == at_b.payloads == [{"k": 1}]


async def test_after_a_redis_restart_the_bus_resubscribes_resyncs_and_carries_messages(
    outage_server: RedisServer,
) -> None:
    links = [RedisLink(outage_server.url, HOT_PATH_TIMEOUT, name) for name in ("node-a", "node-b")]
    node_a, node_b = ClusterBus(links[0], "node-a"), ClusterBus(links[1], "node-b")
    resyncs = {"node-a": 0, "node-b": 0}

    def counter(name: str) -> Any:
        async def resync() -> None:
            resyncs[name] += 1

        return resync

    node_a.on_resync.append(counter("node-a"))
    node_b.on_resync.append(counter("node-b"))
    at_b = Inbox()
    node_b.subscribe("config", at_b)
    for link in links:
        await link.start()
    await node_a.start()
    await node_b.start()
    try:
        assert resyncs == {"node-a": 0, "node-b": 0}
        outage_server.stop()
        started = time.monotonic()
        assert not await node_a.publish("config", {"lost": True})
        assert not await node_a.fence("config", {"lost": True})
        assert time.monotonic() - started < 0.3
        await asyncio.sleep(0.5)
        assert not node_b.connected
        outage_server.resume()
        took = await wait_until(lambda: resyncs == {"node-a": 1, "node-b": 1})
        assert took < 1.5
        assert node_a.connected and node_b.connected
        assert await node_a.fence("config", {"after": True}, timeout=2.0)
        assert at_b.payloads == [{"after": True}]
    finally:
        await node_a.aclose()
        await node_b.aclose()
        for link in links:
            await link.aclose()


async def test_messages_it_cannot_read_are_skipped_without_breaking_the_subscription(
    buses: tuple[ClusterBus, ClusterBus], link: RedisLink
) -> None:
    node_a, node_b = buses
    resyncs: list[int] = []

    async def resync() -> None:
        resyncs.append(1)

    node_b.on_resync.append(resync)
    at_b = Inbox()
    node_b.subscribe("config", at_b)
    for junk in (
        b"junk",
        b"[1]",
        b'{"kind": "config", "sender": "x", "id": "y", "payload": 5}',
        b'{"ack": true}',
    ):
        await link.client.publish(node_a.channel, junk)
    assert await node_a.fence("config", {"good": True}, timeout=2.0)
    assert at_b.payloads == [{"good": True}]
    assert resyncs == [] and node_b.connected


async def test_deployments_on_other_database_numbers_of_one_redis_do_not_hear_each_other(
    redis_server: RedisServer,
) -> None:
    """Keys are scoped by the database number but pub/sub channels are not: the bus's channel is."""
    links = [RedisLink(redis_server.url.rsplit("/", 1)[0] + f"/{db}", 1.0, f"node-{db}") for db in (1, 1, 2)]
    for link in links:
        await link.start()
    buses = [ClusterBus(link, link.node) for link in links]
    try:
        for bus in buses:
            await bus.start()
        inboxes = [Inbox(), Inbox()]
        buses[1].subscribe("config", inboxes[0])
        buses[2].subscribe("config", inboxes[1])
        assert await buses[0].fence("config", {"proxy": 1}, timeout=2.0)
        await asyncio.sleep(0.1)
        assert inboxes[0].payloads == [{"proxy": 1}] and inboxes[1].payloads == []
    finally:
        for bus in buses:
            await bus.aclose()
        for link in links:
            await link.aclose()
