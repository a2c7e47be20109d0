"""Occurrence counters for `repeats: "sequence"`: the Nth identical request of a namespace is its own entry.

Counters live behind a small protocol so that several nodes can share them (cluster/occurrences.py, on
Redis); the in-process one is a dict. They restart when a proxy starts and when a suite rewinds them.
The protocol is async because the shared one is; the local one never awaits.
"""

from __future__ import annotations

from typing import Protocol


class OccurrenceCounter(Protocol):
    async def next(self, proxy_id: int, namespace: str, key: str) -> int:
        """1 for the first request with this key in this namespace since the last rewind, then 2, 3…"""
        ...

    async def rewind(self, proxy_id: int, namespace: str | None = None) -> None:
        """Start counting again: one namespace of the proxy, or all of them (None)."""
        ...


class LocalOccurrences:
    def __init__(self) -> None:
        self._counts: dict[int, dict[tuple[str, str], int]] = {}

    async def next(self, proxy_id: int, namespace: str, key: str) -> int:
        return self.next_now(proxy_id, namespace, key)

    async def rewind(self, proxy_id: int, namespace: str | None = None) -> None:
        self.rewind_now(proxy_id, namespace)

    def next_now(self, proxy_id: int, namespace: str, key: str) -> int:
        counts = self._counts.setdefault(proxy_id, {})
        count = counts.get((namespace, key), 0) + 1
        counts[(namespace, key)] = count
        return count

    def rewind_now(self, proxy_id: int, namespace: str | None = None) -> None:
        if namespace is None:
            self._counts.pop(proxy_id, None)
            return
        counts = self._counts.get(proxy_id, {})
        for slot in [slot for slot in counts if slot[0] == namespace]:
            del counts[slot]
