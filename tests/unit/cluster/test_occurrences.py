"""Occurrence counters shared by every node."""

from __future__ import annotations

import asyncio
import time

from rubberduck.cluster.link import RedisLink
from rubberduck.cluster.occurrences import RedisOccurrences
from tests.engines import RedisServer
from tests.unit.cluster.conftest import HOT_PATH_TIMEOUT, wait_until


async def test_two_nodes_count_one_sequence_per_key_and_namespace(
    link: RedisLink, other_link: RedisLink
) -> None:
    node_a, node_b = RedisOccurrences(link), RedisOccurrences(other_link)
    assert await node_a.next(1, "", "k1") == 1
    assert await node_b.next(1, "", "k1") == 2
    assert await node_a.next(1, "", "k1") == 3
    assert await node_b.next(1, "", "k2") == 1  # another key
    assert await node_b.next(1, "suite", "k1") == 1  # another namespace
    assert await node_a.next(2, "", "k1") == 1  # another proxy
    numbers = await asyncio.gather(*(node.next(1, "burst", "k") for node in [node_a, node_b] * 20))
    assert sorted(numbers) == list(range(1, 41))  # concurrent requests never share a number


async def test_rewind_one_namespace_or_all_of_a_proxy(link: RedisLink, other_link: RedisLink) -> None:
    node_a, node_b = RedisOccurrences(link), RedisOccurrences(other_link)
    for namespace in ("", "x", "y"):
        await node_a.next(3, namespace, "k")
        await node_a.next(3, namespace, "k")
    await node_a.next(33, "x", "k")  # proxy 33's counters are not proxy 3's
    await node_b.rewind(3, "x")
    assert await node_a.next(3, "x", "k") == 1
    assert await node_a.next(3, "y", "k") == 3
    await node_b.rewind(3)
    assert [await node_a.next(3, namespace, "k") for namespace in ("", "x", "y")] == [1, 1, 1]
    assert await node_a.next(33, "x", "k") == 2
    assert await link.client.ttl("rd:occ:3:x") > 86000


async def test_redis_down_counts_locally_fast_then_shares_again(outage_server: RedisServer) -> None:
    link = RedisLink(outage_server.url, HOT_PATH_TIMEOUT, "node-a")
    await link.start()
    try:
        counter = RedisOccurrences(link)
        assert await counter.next(4, "", "k") == 1
        outage_server.stop()
        started = time.monotonic()
        assert [await counter.next(4, "", "k") for _ in range(3)] == [1, 2, 3]  # the node's own count
        assert time.monotonic() - started < 0.3
        await counter.rewind(4)  # cannot reach Redis: the local count restarts, nothing raises
        assert await counter.next(4, "", "k") == 1
        outage_server.resume()
        await wait_until(lambda: link.healthy)
        assert await counter.next(4, "", "k") == 1  # a fresh Redis: its count starts again
        assert await counter.next(4, "", "k") == 2
    finally:
        await link.aclose()
