"""The Redis tier of the cache: one node's recording is another's fast hit; a clear anywhere wins."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

import pytest

from rubberduck.cache.entry import CachedResponse
from rubberduck.cache.protocol import EntryFilter, EntryId, EntryInfo
from rubberduck.cluster.cachetier import MAX_REDIS_ENTRY_BYTES, RedisCacheTier
from rubberduck.cluster.link import RedisLink
from tests.engines import RedisServer
from tests.unit.cluster.conftest import HOT_PATH_TIMEOUT, wait_until


class DictStore:
    """The durable store (Postgres in production) as a dict, counting its reads."""

    def __init__(self) -> None:
        self.entries: dict[EntryId, CachedResponse] = {}
        self.gets = 0
        self.hold: asyncio.Event | None = None  # set: a read waits for it after reading
        self.fail_puts = False

    async def get(self, proxy_id: int, key: str, occurrence: int = 1) -> CachedResponse | None:
        self.gets += 1
        entry = self.entries.get((proxy_id, key, occurrence))
        if self.hold is not None:
            await self.hold.wait()
        return entry

    async def put(self, proxy_id: int, entry: CachedResponse) -> None:
        if self.fail_puts:
            raise OSError("the database is unavailable")
        self.entries[(proxy_id, entry.key, entry.occurrence)] = entry

    async def clear(self, proxy_id: int, namespace: str | None = None) -> int:
        gone = [slot for slot, entry in self.entries.items()
                if slot[0] == proxy_id and namespace in (None, entry.namespace)]  # fmt: skip
        for slot in gone:
            del self.entries[slot]
        return len(gone)

    async def delete(self, proxy_id: int, key: str, occurrence: int | None = None) -> int:
        gone = [
            slot for slot in self.entries if slot[:2] == (proxy_id, key) and occurrence in (None, slot[2])
        ]
        for slot in gone:
            del self.entries[slot]
        return len(gone)

    async def count(self, proxy_id: int) -> int:
        return sum(1 for slot in self.entries if slot[0] == proxy_id)

    async def add_hits(self, hits: Mapping[EntryId, tuple[int, float]]) -> None:
        return None

    async def page(
        self, proxy_id: int, where: EntryFilter, limit: int, after: tuple[datetime, str, int] | None
    ) -> list[EntryInfo]:
        return []

    async def recorded_occurrences(self, proxy_id: int, key: str) -> int:
        return sum(1 for slot in self.entries if slot[:2] == (proxy_id, key))

    async def candidates(
        self, proxy_id: int, namespace: str, operation: str | None, limit: int
    ) -> list[CachedResponse]:
        return []


def entry(
    key: str, occurrence: int = 1, namespace: str = "", body: bytes = b'{"ok": true}'
) -> CachedResponse:
    return CachedResponse(
        status=200, headers=[(b"content-type", b"application/json")], chunks=(body,), stream=False,
        key=key, namespace=namespace, occurrence=occurrence, created_at=1_800_000_000.5,
    )  # fmt: skip


@pytest.fixture
def durable() -> DictStore:
    return DictStore()


async def test_what_node_a_records_node_b_reads_from_redis(
    link: RedisLink, other_link: RedisLink, durable: DictStore
) -> None:
    node_a, node_b = RedisCacheTier(link, durable), RedisCacheTier(other_link, durable)
    recorded = entry("k1")
    await node_a.put(1, recorded)
    assert durable.entries[(1, "k1", 1)] == recorded
    assert await node_b.get(1, "k1") == recorded
    assert durable.gets == 0  # Redis answered
    assert await node_b.get(1, "k1", 2) is None and durable.gets == 1
    assert await link.client.ttl("rd:c:1:k1:1") > 86000


async def test_a_miss_in_redis_reads_the_durable_copy_once_and_refills(
    link: RedisLink, durable: DictStore
) -> None:
    tier = RedisCacheTier(link, durable)
    durable.entries[(1, "k1", 1)] = entry("k1")
    assert await tier.get(1, "k1") == entry("k1")
    assert await tier.get(1, "k1") == entry("k1")
    assert durable.gets == 1


async def test_a_clear_or_delete_on_one_node_is_a_miss_on_the_other(
    link: RedisLink, other_link: RedisLink, durable: DictStore
) -> None:
    node_a, node_b = RedisCacheTier(link, durable), RedisCacheTier(other_link, durable)
    for recorded in (entry("k1"), entry("k1", 2), entry("k2", namespace="other"), entry("k3")):
        await node_a.put(1, recorded)
    await node_a.put(2, entry("k1"))
    assert await node_b.delete(1, "k3") == 1
    assert await node_a.get(1, "k3") is None
    assert await node_b.delete(1, "k1", 2) == 1
    assert await node_a.get(1, "k1", 2) is None and await node_a.get(1, "k1") == entry("k1")
    assert await node_b.clear(1, "") == 1  # the durable store knows which entries the namespace holds
    assert await node_a.get(1, "k1") is None
    assert await node_a.get(1, "k2") == entry("k2", namespace="other")  # refilled from the durable copy
    assert await node_b.clear(1) == 1
    assert await node_a.get(1, "k2") is None
    assert await link.client.keys("rd:c:1:*") == []
    assert await node_a.get(2, "k1") == entry("k1")  # another proxy keeps its copies
    assert await link.client.keys("rd:c:2:*") == [b"rd:c:2:k1:1"]


async def test_a_clear_wins_over_a_refill_racing_with_it(
    link: RedisLink, other_link: RedisLink, durable: DictStore
) -> None:
    node_a, node_b = RedisCacheTier(link, durable), RedisCacheTier(other_link, durable)
    durable.entries[(1, "k1", 1)] = entry("k1")
    hold = durable.hold = asyncio.Event()
    reading = asyncio.create_task(node_a.get(1, "k1"))  # misses Redis, reads the old entry, then waits
    await wait_until(lambda: durable.gets == 1)
    durable.hold = None
    assert await node_b.clear(1) == 1
    hold.set()
    assert await reading == entry("k1")  # what it read before the clear: it answers with it ...
    assert await link.client.keys("rd:c:1:*") == []  # ... but does not put it back into Redis
    assert await node_a.get(1, "k1") is None


async def test_entries_too_big_or_about_to_expire_stay_out_of_redis(
    link: RedisLink, durable: DictStore
) -> None:
    tier = RedisCacheTier(link, durable)
    await tier.put(1, entry("big", body=b"x" * (MAX_REDIS_ENTRY_BYTES + 1)))
    await tier.put(1, replace(entry("gone"), expires_at=time.time() - 1))
    await tier.put(1, replace(entry("soon"), expires_at=time.time() + 30))
    assert await link.client.keys("rd:c:1:*") == [b"rd:c:1:soon:1"]
    assert 0 < await link.client.ttl("rd:c:1:soon:1") <= 30
    big = await tier.get(1, "big")
    assert big is not None and big.chunks[0] == b"x" * (MAX_REDIS_ENTRY_BYTES + 1)
    assert await tier.get(1, "big") is not None
    assert durable.gets == 2  # read from the durable store each time, never copied
    assert await link.client.keys("rd:c:1:*") == [b"rd:c:1:soon:1"]


async def test_a_failed_durable_write_leaves_no_redis_copy(link: RedisLink, durable: DictStore) -> None:
    tier = RedisCacheTier(link, durable)
    durable.fail_puts = True
    with pytest.raises(OSError):
        await tier.put(1, entry("k1"))
    assert await link.client.keys("rd:c:*") == []


async def test_redis_down_falls_through_to_the_durable_store_fast(
    outage_server: RedisServer, durable: DictStore
) -> None:
    link = RedisLink(outage_server.url, HOT_PATH_TIMEOUT, "node-a")
    await link.start()
    try:
        tier = RedisCacheTier(link, durable)
        await tier.put(1, entry("k1"))
        outage_server.stop()
        started = time.monotonic()
        assert await tier.get(1, "k1") == entry("k1")
        await tier.put(1, entry("k2"))
        assert await tier.get(1, "k2") == entry("k2")
        assert await tier.delete(1, "k2") == 1
        assert time.monotonic() - started < 0.3
        assert durable.gets == 2 and (1, "k1", 1) in durable.entries
    finally:
        await link.aclose()


async def test_a_clear_that_missed_redis_drops_its_copies_on_reconnect(
    link: RedisLink, other_link: RedisLink, durable: DictStore
) -> None:
    node_a, node_b = RedisCacheTier(link, durable), RedisCacheTier(other_link, durable)
    await node_b.put(1, entry("k1"))
    link.mark_down("a network blip on node A only")  # Redis is fine, node A cannot reach it for a moment
    assert await node_a.clear(1) == 1
    assert await link.client.keys("rd:c:1:*") == [b"rd:c:1:k1:1"]  # the copy survived the clear ...

    async def dropped() -> bool:
        return await other_link.client.keys("rd:c:1:*") == []

    await wait_until(dropped)
    assert link.healthy
    assert await node_b.get(1, "k1") is None  # ... until node A reconnected and dropped it
