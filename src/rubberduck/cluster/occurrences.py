"""Occurrence counters every node shares, for `repeats: "sequence"`.

With several nodes, the third identical request may reach a node that saw neither of the first two; the
count has to live where all of them increment it. HINCRBY is atomic, so concurrent requests on different
nodes get distinct numbers. While Redis is down each node counts on its own (fail open: a recording is
still made or replayed, possibly as another occurrence).
"""

from __future__ import annotations

import logging

from redis.asyncio import Redis

from rubberduck.cache.occurrence import LocalOccurrences
from rubberduck.cluster.link import RedisLink

logger = logging.getLogger("rubberduck.cluster")

IDLE_TTL_SECONDS = 86400  # counters of a proxy nobody used for a day start again, as after a restart
REWIND_TIMEOUT = 2.0  # a rewind is an API call, not a proxied request


class RedisOccurrences:
    """The `OccurrenceCounter` protocol (cache/occurrence.py) on Redis hashes `rd:occ:{proxy}:{namespace}`."""

    def __init__(self, link: RedisLink, fallback: LocalOccurrences | None = None) -> None:
        self.link = link
        self.local = fallback or LocalOccurrences()

    async def next(self, proxy_id: int, namespace: str, key: str) -> int:
        """1 for the first request with this key in this namespace since the last rewind, then 2, 3…"""
        counter = f"rd:occ:{proxy_id}:{namespace}"

        async def count(client: Redis) -> int:
            async with client.pipeline(transaction=False) as pipe:
                pipe.hincrby(counter, key, 1)
                pipe.expire(counter, IDLE_TTL_SECONDS)
                number, _ = await pipe.execute()
            return int(number)

        number = await self.link.run(count, 0)
        return number or self.local.next_now(proxy_id, namespace, key)

    async def rewind(self, proxy_id: int, namespace: str | None = None) -> None:
        """Start counting again: one namespace of the proxy, or all of them (None)."""
        self.local.rewind_now(proxy_id, namespace)

        async def forget(client: Redis) -> bool:
            if namespace is not None:
                await client.delete(f"rd:occ:{proxy_id}:{namespace}")
                return True
            batch: list[bytes] = []
            async for found in client.scan_iter(match=f"rd:occ:{proxy_id}:*", count=500):
                batch.append(found)
            for start in range(0, len(batch), 500):
                await client.unlink(*batch[start : start + 500])
            return True

        if not await self.link.run(forget, False, timeout=REWIND_TIMEOUT):
            logger.warning(
                "occurrence counters of proxy %d not rewound in Redis: it is unavailable", proxy_id
            )
