from __future__ import annotations

from rubberduck.cache.entry import CachedResponse, frame_chunks, unframe_chunks
from rubberduck.cache.memory import MemoryLRU


def entry(size: int) -> CachedResponse:
    return CachedResponse(200, [], (b"x" * size,), False)


def test_framing_keeps_chunk_boundaries_including_empty_chunks() -> None:
    chunks = (b"data: 1\n\n", b"", b"data: [DONE]\n\n", bytes(range(256)))
    assert unframe_chunks(frame_chunks(chunks)) == chunks
    assert unframe_chunks(b"") == ()


def test_lru_evicts_least_recently_used_within_its_byte_budget() -> None:
    lru = MemoryLRU(max_bytes=300)
    lru.put((1, "a", 1), entry(100))
    lru.put((1, "b", 1), entry(100))
    lru.put((1, "c", 1), entry(100))
    assert lru.get((1, "a", 1)) is not None  # a is now the most recent
    lru.put((1, "d", 1), entry(100))
    assert lru.get((1, "b", 1)) is None
    assert {k for k in [(1, "a", 1), (1, "c", 1), (1, "d", 1)] if lru.get(k)} == {
        (1, "a", 1),
        (1, "c", 1),
        (1, "d", 1),
    }
    assert lru.used_bytes == 300


def test_lru_skips_entries_larger_than_the_budget_and_replaces_in_place() -> None:
    lru = MemoryLRU(max_bytes=100)
    lru.put((1, "big", 1), entry(101))
    assert lru.get((1, "big", 1)) is None and lru.used_bytes == 0
    lru.put((1, "a", 1), entry(50))
    lru.put((1, "a", 1), entry(60))
    assert lru.used_bytes == 60 and len(lru) == 1


def test_clear_proxy_only_drops_that_proxys_entries() -> None:
    lru = MemoryLRU(max_bytes=1000)
    lru.put((1, "a", 1), entry(10))
    lru.put((2, "a", 1), entry(10))
    assert lru.clear_proxy(1) == 1
    assert lru.get((1, "a", 1)) is None and lru.get((2, "a", 1)) is not None
