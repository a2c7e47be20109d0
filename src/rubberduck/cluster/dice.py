"""Which request of a seeded proxy's sequence this is, counted in Redis so every node agrees.

faults/state.py draws request N's dice from (seed, N); with one counter for all nodes, the same seed and
the same request sequence give the same faults whichever node answers each request.
"""

from __future__ import annotations

from rubberduck.cluster.link import RedisLink
from rubberduck.faults.state import SharedCounter


class SharedDice:
    def __init__(self, link: RedisLink) -> None:
        self.link = link

    @staticmethod
    def _key(proxy_id: int) -> str:
        return f"rd:dice:{proxy_id}"

    def counter_for(self, proxy_id: int) -> SharedCounter:
        key = self._key(proxy_id)

        async def next_number() -> int | None:  # None (Redis down): the node counts on its own
            number: int | None = await self.link.run(lambda redis: redis.incr(key), None)
            return number

        return next_number

    async def reset(self, proxy_id: int) -> None:
        """A new failure config (or the same one PUT again) starts the sequence over on every node."""
        await self.link.run(lambda redis: redis.delete(self._key(proxy_id)), 0, timeout=1.0)
