"""A node of a team deployment: what it shares through Redis, assembled in one place for app.py.

Only imported when RUBBERDUCK_REDIS_URL is set, so a single server never loads the Redis client.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from rubberduck.cache.protocol import CacheStore
from rubberduck.cache.store import LayeredCache
from rubberduck.cluster.bus import ClusterBus
from rubberduck.cluster.cachetier import RedisCacheTier
from rubberduck.cluster.dice import SharedDice
from rubberduck.cluster.link import RedisLink
from rubberduck.cluster.occurrences import RedisOccurrences
from rubberduck.cluster.ratelimit import RedisWindowLimiter
from rubberduck.cluster.sync import ClusterSync
from rubberduck.db.database import Database
from rubberduck.faults.state import Limiter
from rubberduck.proxy.manager import ProxyManager, SharedState
from rubberduck.settings import Settings
from rubberduck.telemetry.live import LogBroadcaster

logger = logging.getLogger("rubberduck.cluster")


class ClusterNode:
    def __init__(self, settings: Settings) -> None:
        self.name = settings.resolved_node_name
        self.link = RedisLink(settings.redis_url, settings.redis_timeout_seconds, self.name)
        self.bus = ClusterBus(self.link, self.name)
        self.dice = SharedDice(self.link)
        self.occurrences = RedisOccurrences(self.link)
        self.sync: ClusterSync | None = None

    def cache_store(self, durable: CacheStore) -> CacheStore:
        return RedisCacheTier(self.link, durable)

    def limiter(self, proxy_id: int, rpm: int | None, tpm: int | None) -> Limiter:
        # The window's name changes with the limits, so new limits start a fresh shared window.
        return RedisWindowLimiter(self.link, proxy_id, rpm, tpm, f"{rpm or 0}-{tpm or 0}")

    def shared_state(self) -> SharedState:
        return SharedState(
            limiter_for=self.limiter,
            dice_for=self.dice.counter_for,
            reset_dice=self.dice.reset,
            announce=self._announce,
        )

    async def _announce(self, proxy_id: int) -> None:
        if self.sync is not None:
            await self.sync.announce(proxy_id)

    def attach(
        self,
        manager: ProxyManager,
        database: Database,
        cache: LayeredCache,
        live: LogBroadcaster,
        reload_settings: Callable[[], Awaitable[None]],
    ) -> ClusterSync:
        self.sync = ClusterSync(self.bus, manager, database, cache, live, reload_settings)
        self.sync.install()
        return self.sync

    @property
    def problem(self) -> str | None:
        """Why this node is degraded (for /healthz), None when Redis answers."""
        return None if self.link.healthy else f"redis: {self.link.reason}"

    async def start(self) -> None:
        await self.link.start()
        await self.bus.start()
        if self.sync is not None:
            self.sync.start()

    async def stop(self) -> None:
        if self.sync is not None:
            await self.sync.stop()
        await self.bus.aclose()
        await self.link.aclose()
