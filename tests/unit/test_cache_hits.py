"""Hit counts: counted in memory on the request path, written in batches, the last ones at shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from rubberduck.cache.entry import CachedResponse
from rubberduck.cache.memory import MemoryLRU
from rubberduck.cache.sqlstore import EntryId
from rubberduck.cache.store import LayeredCache

ENTRY = CachedResponse(200, [], (b"{}",), False, key="k" * 64)
SECOND = CachedResponse(200, [], (b"{}",), False, key="k" * 64, occurrence=2)


class HitLog:
    """Records each batch of hit counts; a batch can be held to stop the writer in the middle of one."""

    def __init__(self) -> None:
        self.batches: list[dict[EntryId, int]] = []
        self.writing = asyncio.Event()
        self.go_on = asyncio.Event()
        self.go_on.set()

    async def add_hits(self, hits: Mapping[EntryId, tuple[int, float]]) -> None:
        self.writing.set()
        await self.go_on.wait()
        self.batches.append({slot: count for slot, (count, _) in hits.items()})


def cache_with(log: HitLog) -> LayeredCache:
    return LayeredCache(MemoryLRU(1 << 20), log)  # type: ignore[arg-type]  # only add_hits is used


async def test_hits_are_counted_per_occurrence_and_written_together() -> None:
    log = HitLog()
    cache = cache_with(log)
    for entry in (ENTRY, ENTRY, SECOND):
        cache.touch(1, entry)
    await cache.flush_hits()
    assert log.batches == [{(1, "k" * 64, 1): 2, (1, "k" * 64, 2): 1}]
    await cache.flush_hits()
    assert log.batches[-1] == {}  # counted once, never twice


async def test_stopping_the_writer_mid_write_loses_no_hit() -> None:
    log = HitLog()
    cache = cache_with(log)
    cache.start_hit_writer(0.01)
    cache.touch(1, ENTRY)
    log.go_on.clear()
    await log.writing.wait()  # the periodic writer is inside a write
    cache.touch(1, SECOND)  # a hit while it writes
    stopping = asyncio.create_task(cache.stop_hit_writer())
    await asyncio.sleep(0.05)
    assert not stopping.done()  # it waits for the write under way rather than cancelling it
    log.go_on.set()
    await stopping
    written: dict[EntryId, int] = {}
    for batch in log.batches:
        for slot, count in batch.items():
            written[slot] = written.get(slot, 0) + count
    assert written == {(1, "k" * 64, 1): 1, (1, "k" * 64, 2): 1}
