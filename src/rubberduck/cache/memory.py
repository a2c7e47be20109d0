"""A bounded in-memory LRU that sits in front of the persistent cache store."""

from __future__ import annotations

from collections import OrderedDict

from rubberduck.cache.entry import CachedResponse

MemoryKey = tuple[int, str, int]  # (proxy id, cache key, occurrence)


class MemoryLRU:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.used_bytes = 0
        self._entries: OrderedDict[MemoryKey, CachedResponse] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: MemoryKey) -> CachedResponse | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: MemoryKey, entry: CachedResponse) -> None:
        if entry.size > self.max_bytes:
            return
        self.discard(key)
        self._entries[key] = entry
        self.used_bytes += entry.size
        while self.used_bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self.used_bytes -= evicted.size

    def discard(self, key: MemoryKey) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self.used_bytes -= old.size

    def clear_proxy(self, proxy_id: int, namespace: str | None = None) -> int:
        doomed = [
            key
            for key, entry in self._entries.items()
            if key[0] == proxy_id and (namespace is None or entry.namespace == namespace)
        ]
        for key in doomed:
            self.discard(key)
        return len(doomed)

    def discard_key(self, proxy_id: int, key: str, occurrence: int | None) -> None:
        """One occurrence of a request's entry, or all of them (occurrence None)."""
        if occurrence is not None:
            self.discard((proxy_id, key, occurrence))
            return
        for slot in [slot for slot in self._entries if slot[0] == proxy_id and slot[1] == key]:
            self.discard(slot)
