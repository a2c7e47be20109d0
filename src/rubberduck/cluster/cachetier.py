"""Redis in front of the durable cache store (Postgres): what one node recorded, every node can replay fast.

Redis is a copy, never the record: a write lands in Redis first (the other nodes see it at once) and
then in the durable store; a read that Redis cannot answer goes to the durable store and refills Redis.
Every Redis failure falls through to the durable store (fail open); durable errors propagate.

A clear must win over a refill racing with it (node C reads the old entry from Postgres, node B clears,
C writes the old entry back into Redis). Each proxy has a generation in Redis that clears and deletes
move on; a refill is a Lua script that writes only if the generation is still the one read with the miss.
A clear that cannot reach Redis leaves the proxy "dirty": its Redis copies are dropped on reconnect.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from datetime import datetime

from redis.asyncio import Redis

from rubberduck.cache.entry import CachedResponse
from rubberduck.cache.protocol import CacheStore, EntryFilter, EntryId, EntryInfo
from rubberduck.cluster.codec import decode, encode
from rubberduck.cluster.link import RedisLink

logger = logging.getLogger("rubberduck.cluster")

ENTRY_TTL_SECONDS = 86400  # an idle copy leaves Redis; the durable store still has it
MAX_REDIS_ENTRY_BYTES = 8 * 1024 * 1024  # bigger entries are served from the durable store only
CLEAR_TIMEOUT = 5.0  # a clear is an API call: it may scan for a while, never for ever

# KEYS: the entry, the proxy's generation. ARGV: the generation read with the miss ("" if none), the
# value, its TTL. Written only if no clear or delete came in between.
_REFILL = """
if (redis.call('GET', KEYS[2]) or '') == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0
"""


def _glob_escape(text: str) -> str:
    """A cache key inside a SCAN pattern, its glob characters taken literally."""
    return "".join("\\" + char if char in "*?[]\\" else char for char in text)


class RedisCacheTier:
    """A `CacheStore` (cache/protocol.py) whose entries are read from Redis when it has them."""

    def __init__(self, link: RedisLink, durable: CacheStore) -> None:
        self.link = link
        self.durable = durable
        self._refill = link.client.register_script(_REFILL)
        self._dirty: set[int] = set()
        link.on_reconnect.append(self._heal)

    @staticmethod
    def _entry_key(proxy_id: int, key: str, occurrence: int) -> str:
        return f"rd:c:{proxy_id}:{key}:{occurrence}"

    @staticmethod
    def _generation_key(proxy_id: int) -> str:
        return f"rd:cg:{proxy_id}"

    @staticmethod
    def _ttl(entry: CachedResponse) -> int:
        """Seconds the Redis copy lives: a day, or less when the entry expires sooner (0: do not copy)."""
        if entry.expires_at is None:
            return ENTRY_TTL_SECONDS
        return max(0, min(ENTRY_TTL_SECONDS, math.ceil(entry.expires_at - time.time())))

    async def get(self, proxy_id: int, key: str, occurrence: int = 1) -> CachedResponse | None:
        entry_key = self._entry_key(proxy_id, key, occurrence)
        generation_key = self._generation_key(proxy_id)

        async def read(client: Redis) -> list[bytes | None]:
            return [
                value if isinstance(value, bytes) else None
                for value in await client.mget([entry_key, generation_key])
            ]

        found = await self.link.run(read, None)
        if found is not None and found[0] is not None:
            try:
                return decode(found[0])
            except ValueError as error:
                logger.warning("a Redis cache entry could not be read (%s); using the durable copy", error)
        entry = await self.durable.get(proxy_id, key, occurrence)
        if entry is not None and found is not None:
            await self._fill(entry_key, generation_key, entry, found[1] or b"")
        return entry

    async def _fill(self, entry_key: str, generation_key: str, entry: CachedResponse, seen: bytes) -> None:
        ttl = self._ttl(entry)
        data = encode(entry) if ttl else b""
        if not ttl or len(data) > MAX_REDIS_ENTRY_BYTES:
            return

        async def refill(client: Redis) -> object:
            return await self._refill(keys=[entry_key, generation_key], args=[seen, data, ttl], client=client)

        await self.link.run(refill, None)

    async def put(self, proxy_id: int, entry: CachedResponse) -> None:
        entry_key = self._entry_key(proxy_id, entry.key, entry.occurrence)
        ttl = self._ttl(entry)
        data = encode(entry) if ttl else b""
        copied = False
        if ttl and len(data) <= MAX_REDIS_ENTRY_BYTES:

            async def write(client: Redis) -> bool:
                return bool(await client.set(entry_key, data, ex=ttl))

            copied = await self.link.run(write, False)
        try:
            await self.durable.put(proxy_id, entry)
        except BaseException:
            if copied:  # no Redis copy of an entry the durable store does not have
                await self.link.run(lambda client: client.delete(entry_key), 0)
            raise

    async def clear(self, proxy_id: int, namespace: str | None = None) -> int:
        """The durable store decides what a namespace holds; Redis loses all the proxy's copies (they
        refill from the durable store on their next miss), which needs no per-namespace index."""
        removed = await self.durable.clear(proxy_id, namespace)
        await self._drop(proxy_id, f"rd:c:{proxy_id}:*")
        return removed

    async def delete(self, proxy_id: int, key: str, occurrence: int | None = None) -> int:
        removed = await self.durable.delete(proxy_id, key, occurrence)
        if occurrence is None:
            await self._drop(proxy_id, f"rd:c:{proxy_id}:{_glob_escape(key)}:*")
        else:
            await self._drop(proxy_id, None, self._entry_key(proxy_id, key, occurrence))
        return removed

    async def _drop(self, proxy_id: int, pattern: str | None, single: str | None = None) -> None:
        """Move the proxy's generation on (refills in flight are void), then delete its copies."""
        generation_key = self._generation_key(proxy_id)

        async def drop(client: Redis) -> bool:
            await client.incr(generation_key)
            if single is not None:
                await client.unlink(single)
            if pattern is not None:
                batch: list[bytes] = []
                async for found in client.scan_iter(match=pattern, count=500):
                    batch.append(found)
                    if len(batch) >= 500:
                        await client.unlink(*batch)
                        batch.clear()
                if batch:
                    await client.unlink(*batch)
            return True

        if not await self.link.run(drop, False, timeout=CLEAR_TIMEOUT):
            self._dirty.add(proxy_id)

    async def _heal(self) -> None:
        """After an outage, drop the copies of every proxy cleared meanwhile: Redis still has them."""
        for proxy_id in list(self._dirty):
            self._dirty.discard(proxy_id)
            await self._drop(proxy_id, f"rd:c:{proxy_id}:*")

    async def count(self, proxy_id: int) -> int:
        return await self.durable.count(proxy_id)

    async def add_hits(self, hits: Mapping[EntryId, tuple[int, float]]) -> None:
        await self.durable.add_hits(hits)

    async def page(
        self, proxy_id: int, where: EntryFilter, limit: int, after: tuple[datetime, str, int] | None
    ) -> list[EntryInfo]:
        return await self.durable.page(proxy_id, where, limit, after)

    async def recorded_occurrences(self, proxy_id: int, key: str) -> int:
        return await self.durable.recorded_occurrences(proxy_id, key)

    async def candidates(
        self, proxy_id: int, namespace: str, operation: str | None, limit: int
    ) -> list[CachedResponse]:
        return await self.durable.candidates(proxy_id, namespace, operation, limit)
