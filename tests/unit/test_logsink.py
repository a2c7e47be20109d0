"""The batch log writer's timing promise, on a fake clock: no row waits past one flush interval.

That bounds what a crash (kill -9) loses: the rows of the last flush interval and the batch being written.
"""

from __future__ import annotations

import asyncio

from rubberduck.telemetry.logsink import BatchLogWriter
from rubberduck.telemetry.sqlite_rows import LogRow

FLUSH_SECONDS = 60.0  # a real wait this long would time the test out: every wait here must be skipped


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class HeldStore:
    """Each insert waits for `release`, so the test decides when a write ends."""

    def __init__(self) -> None:
        self.inserts: list[list[str]] = []
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def prepare(self) -> None:
        return None

    async def insert(self, rows: list[LogRow]) -> None:
        self.inserts.append([row["path"] for row in rows])
        self.started.set()
        await self.release.wait()
        self.release.clear()

    async def close(self) -> None:
        return None


def row(path: str) -> LogRow:
    return {"path": path, "status": 200, "cache_status": "miss"}


async def test_a_row_that_waited_its_flush_interval_during_a_write_goes_in_the_next_batch_at_once() -> None:
    clock, store = Clock(), HeldStore()
    writer = BatchLogWriter(store, 1000, 500, FLUSH_SECONDS, clock=clock)  # type: ignore[arg-type]
    await writer.start()
    try:
        writer.append(row("/a"))
        clock.now += FLUSH_SECONDS  # /a is due: written without a further wait
        await asyncio.wait_for(store.started.wait(), 5)
        store.started.clear()
        assert store.inserts == [["/a"]]

        writer.append(row("/b"))  # arrives while /a is being written ...
        clock.now += FLUSH_SECONDS  # ... which takes a whole flush interval
        store.release.set()
        # /b is due when the write of /a ends: it must not wait another interval on top.
        await asyncio.wait_for(store.started.wait(), 5)
        assert store.inserts == [["/a"], ["/b"]]
        store.release.set()
    finally:
        store.release.set()
        await writer.stop()


async def test_rows_gather_into_one_batch_until_the_oldest_is_due() -> None:
    clock, store = Clock(), HeldStore()
    writer = BatchLogWriter(store, 1000, 500, 0.05, clock=clock)  # type: ignore[arg-type]
    store.release.set()
    await writer.start()
    try:
        writer.append(row("/a"))
        await asyncio.sleep(0)
        writer.append(row("/b"))
        clock.now += 0.05
        await asyncio.wait_for(store.started.wait(), 5)
        assert store.inserts == [["/a", "/b"]]
    finally:
        await writer.stop()
