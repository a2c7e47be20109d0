"""A cache clear wins over every write that began before it, in memory and in the persistent store.

The races are driven step by step: the store's reads and writes wait on events the test sets, so nothing
depends on timing.
"""

from __future__ import annotations

import asyncio

from rubberduck.cache.entry import CachedResponse
from rubberduck.cache.memory import MemoryLRU
from rubberduck.cache.store import LayeredCache

KEY = "k" * 64
ENTRY = CachedResponse(200, [(b"content-type", b"application/json")], (b'{"answer": 42}',), False, key=KEY)
OLD_ENTRY = CachedResponse(200, [], (b"{}",), False, key="old")


class HeldStore:
    """A dict store whose get and put wait, when told to, until the test lets them go on."""

    def __init__(self) -> None:
        self.entries: dict[tuple[int, str], CachedResponse] = {}
        self.hold = False
        self.entered = asyncio.Event()
        self.go_on = asyncio.Event()
        self.cleared = asyncio.Event()

    async def _maybe_hold(self) -> None:
        if self.hold:
            self.entered.set()
            await self.go_on.wait()

    async def get(self, proxy_id: int, key: str, occurrence: int = 1) -> CachedResponse | None:
        entry = self.entries.get((proxy_id, key))
        await self._maybe_hold()  # the row was read before the wait
        return entry

    async def put(self, proxy_id: int, entry: CachedResponse) -> None:
        await self._maybe_hold()
        self.entries[(proxy_id, entry.key)] = entry

    async def clear(self, proxy_id: int, namespace: str | None = None) -> int:
        doomed = [key for key in self.entries if key[0] == proxy_id]
        for key in doomed:
            del self.entries[key]
        self.cleared.set()
        return len(doomed)

    async def count(self, proxy_id: int) -> int:
        return sum(1 for key in self.entries if key[0] == proxy_id)

    async def delete(self, proxy_id: int, key: str, occurrence: int | None = None) -> int:
        return 1 if self.entries.pop((proxy_id, key), None) is not None else 0


def layered() -> tuple[LayeredCache, HeldStore]:
    store = HeldStore()
    return LayeredCache(MemoryLRU(1 << 20), store), store


async def test_a_write_under_way_when_the_clear_comes_is_deleted_too() -> None:
    cache, store = layered()
    generation = cache.generation(1)
    cache.remember(1, ENTRY, generation)
    store.hold = True
    writing = asyncio.create_task(cache.persist(1, ENTRY, generation, remembered=True))
    await store.entered.wait()  # the INSERT is under way
    clearing = asyncio.create_task(cache.clear(1))
    await asyncio.sleep(0)
    assert cache.peek(1, KEY) is None  # the memory copy goes at once
    assert not store.cleared.is_set()  # the delete waits for the write under way ...
    store.go_on.set()
    await writing
    assert await clearing == 1  # ... and then deletes it with the rest
    assert store.entries == {}
    assert await cache.get(1, KEY) is None


async def test_a_request_that_began_before_the_clear_stores_nothing_after_it() -> None:
    cache, store = layered()
    generation = cache.generation(1)  # the request's lookup missed; it goes upstream
    await cache.clear(1)
    cache.remember(1, ENTRY, generation)  # its answer arrives after the clear
    await cache.persist(1, ENTRY, generation, remembered=True)
    assert cache.peek(1, KEY) is None and store.entries == {}
    assert await cache.get(1, KEY) is None


async def test_a_read_under_way_when_the_clear_comes_does_not_refill_the_memory() -> None:
    cache, store = layered()
    store.entries[(1, KEY)] = ENTRY
    store.hold = True
    reading = asyncio.create_task(cache.get(1, KEY))
    await store.entered.wait()  # the row was read, the answer is not back yet
    assert await cache.clear(1) == 1
    store.go_on.set()
    await reading
    assert cache.peek(1, KEY) is None


async def test_a_write_of_a_request_that_began_after_the_clear_waits_for_it_and_stays() -> None:
    cache, store = layered()
    older = cache.generation(1)
    store.hold = True
    writing_older = asyncio.create_task(cache.persist(1, OLD_ENTRY, older))
    await store.entered.wait()
    clearing = asyncio.create_task(cache.clear(1))
    await asyncio.sleep(0)
    newer = cache.generation(1)
    assert newer != older
    cache.remember(1, ENTRY, newer)
    writing_newer = asyncio.create_task(cache.persist(1, ENTRY, newer, remembered=True))
    store.go_on.set()
    await asyncio.gather(writing_older, clearing, writing_newer)
    assert list(store.entries) == [(1, KEY)]
    assert cache.peek(1, KEY) is ENTRY


async def test_other_proxies_are_not_touched() -> None:
    cache, store = layered()
    cache.remember(2, ENTRY, cache.generation(2))
    await cache.persist(2, ENTRY, cache.generation(2), remembered=True)
    await cache.clear(1)
    assert cache.peek(2, KEY) is ENTRY and (2, KEY) in store.entries


async def test_a_count_right_after_an_answer_from_memory_waits_for_its_write() -> None:
    """A stream is answered from memory at its final event and written once its body ends (after the
    provider's tail): a listing in between must still see it."""
    cache, _ = layered()
    generation = cache.generation(1)
    cache.remember(1, ENTRY, generation)  # the client has its answer; the write is not under way yet
    counting = asyncio.create_task(cache.count(1))
    await asyncio.sleep(0.01)
    assert not counting.done()  # waits for the write instead of answering 0
    await cache.persist(1, ENTRY, generation, remembered=True)
    assert await counting == 1


async def test_a_count_waits_for_a_write_dropped_by_a_clear_without_hanging() -> None:
    cache, _ = layered()
    generation = cache.generation(1)
    cache.remember(1, ENTRY, generation)
    await cache.clear(1)  # the clear does not wait for the remembered entry's write
    counting = asyncio.create_task(cache.count(1))
    await cache.persist(1, ENTRY, generation, remembered=True)  # dropped: older than the clear
    assert await counting == 0


async def test_a_lookup_during_a_clear_does_not_bring_the_old_entry_back_into_memory() -> None:
    cache, store = layered()
    store.entries[(1, KEY)] = ENTRY
    older = cache.generation(1)
    store.hold = True
    writing = asyncio.create_task(cache.persist(1, OLD_ENTRY, older))  # keeps the clear waiting
    await store.entered.wait()
    clearing = asyncio.create_task(cache.clear(1))
    await asyncio.sleep(0)
    store.hold = False
    assert await cache.get(1, KEY) is ENTRY  # still in the store: the clear has not deleted it yet ...
    assert cache.peek(1, KEY) is None  # ... but it is not remembered, so it cannot outlive the clear
    store.go_on.set()
    await asyncio.gather(writing, clearing)
    assert store.entries == {} and await cache.get(1, KEY) is None


class Peers:
    """Another node, as the bus would drive it: its LayeredCache's fence_here, run for each message."""

    def __init__(self, other: LayeredCache) -> None:
        self.other = other
        self.seen: list[tuple[str, dict[str, object]]] = []

    async def __call__(self, kind: str, payload: dict[str, object]) -> bool:
        self.seen.append((kind, payload))
        await self.other.fence_here(kind, payload)
        return True


async def test_a_clear_empties_the_other_nodes_memory_before_the_store_and_says_when_done() -> None:
    cache, store = layered()
    other = LayeredCache(MemoryLRU(1 << 20), store)
    other.remember(1, ENTRY, other.generation(1))
    await other.persist(1, ENTRY, other.generation(1), remembered=True)
    peers = cache.peers = Peers(other)
    before = other.generation(1)
    assert await cache.clear(1) == 1
    assert [kind for kind, _ in peers.seen] == ["clear", "cleared"]
    assert other.peek(1, KEY) is None and other.generation(1) == before + 1  # its older writes are void
    assert await other.get(1, KEY) is None


async def test_the_other_node_does_not_remember_reads_while_a_clear_is_under_way_there() -> None:
    _, store = layered()
    other = LayeredCache(MemoryLRU(1 << 20), store)
    store.entries[(1, KEY)] = ENTRY
    await other.fence_here("clear", {"proxy_id": 1, "namespace": None})
    assert await other.get(1, KEY) is ENTRY and other.peek(1, KEY) is None  # not kept in memory
    await other.fence_here("cleared", {"proxy_id": 1})
    assert await other.get(1, KEY) is ENTRY and other.peek(1, KEY) is ENTRY


async def test_a_delete_or_an_import_drops_the_other_nodes_copy() -> None:
    cache, store = layered()
    other = LayeredCache(MemoryLRU(1 << 20), store)
    other.remember(1, ENTRY, other.generation(1))
    cache.peers = Peers(other)
    await cache.put(1, ENTRY)
    assert other.peek(1, KEY) is None
    other.remember(1, ENTRY, other.generation(1))
    await cache.delete(1, KEY, 1)
    assert other.peek(1, KEY) is None and store.entries == {}
