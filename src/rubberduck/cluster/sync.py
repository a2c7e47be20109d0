"""Keeping a node in step with the others: config pushes, cache fences and the live log, over the bus.

Nodes never talk to each other directly. The database says what each proxy should be; a node that
changes a proxy tells the others its id on the bus, and each of them reads the row and does the same
locally (start, stop, new config). A message lost while Redis was away is made up for by a full
resynchronisation after every reconnect and every `RESYNC_SECONDS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select

from rubberduck.cache.store import LayeredCache
from rubberduck.cluster.bus import ClusterBus
from rubberduck.db.database import Database
from rubberduck.db.models import Proxy
from rubberduck.proxy.manager import ProxyManager
from rubberduck.telemetry.live import LogBroadcaster
from rubberduck.telemetry.sqlite_rows import LOG_COLUMNS, LogRow

logger = logging.getLogger("rubberduck.cluster")

RESYNC_SECONDS = 5.0
FENCE_SECONDS = 1.0


class ClusterSync:
    def __init__(
        self,
        bus: ClusterBus,
        manager: ProxyManager,
        database: Database,
        cache: LayeredCache,
        live: LogBroadcaster,
        reload_settings: Callable[[], Awaitable[None]],
    ) -> None:
        self.bus = bus
        self.manager = manager
        self.database = database
        self.cache = cache
        self.live = live
        self.reload_settings = reload_settings
        self._resyncer: asyncio.Task[None] | None = None
        self._publishes: set[asyncio.Task[bool]] = set()
        self._lock = asyncio.Lock()  # one proxy change at a time: a resync and a push never interleave

    def install(self) -> None:
        self.bus.subscribe("proxy", self._on_proxy)
        self.bus.subscribe("cache", self._on_cache)
        self.bus.subscribe("logs", self._on_logs)
        self.bus.subscribe("settings", self._on_settings)
        self.bus.on_resync.append(self.resync)
        self.cache.peers = self.cache_fence

    def start(self) -> None:
        self._resyncer = asyncio.create_task(self._resync_forever())

    async def stop(self) -> None:
        if self._resyncer is not None:
            self._resyncer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._resyncer
        for task in list(self._publishes):
            with contextlib.suppress(Exception):
                await task

    # ---- what this node tells the others
    async def announce(self, proxy_id: int) -> None:
        await self.bus.publish("proxy", {"id": proxy_id})

    async def announce_settings(self) -> None:
        await self.bus.publish("settings", {})

    async def cache_fence(self, op: str, payload: dict[str, Any]) -> bool:
        return await self.bus.fence("cache", {"op": op, **payload}, FENCE_SECONDS)

    def publish_rows(self, rows: list[LogRow]) -> None:
        """A log-writer listener: this node's written rows, for the live streams of the other nodes
        (this node's own streams get them directly, so they do not depend on Redis)."""
        self.live(rows)
        plain = [{name: _plain(row.get(name)) for name in LOG_COLUMNS} for row in rows]
        task = asyncio.create_task(self.bus.publish("logs", {"rows": plain}))
        self._publishes.add(task)
        task.add_done_callback(self._publishes.discard)

    # ---- what the others tell this node
    async def _on_proxy(self, payload: dict[str, Any]) -> None:
        async with self._lock:
            await self._follow(int(payload["id"]))

    async def _on_cache(self, payload: dict[str, Any]) -> None:
        await self.cache.fence_here(str(payload["op"]), payload)

    async def _on_logs(self, payload: dict[str, Any]) -> None:
        rows = [_row(row) for row in payload.get("rows", [])]
        if rows:
            self.live(rows)

    async def _on_settings(self, _payload: dict[str, Any]) -> None:
        await self.reload_settings()

    async def _follow(self, proxy_id: int) -> None:
        async with self.database.session() as session:
            proxy = await session.get(Proxy, proxy_id)
        await self._apply(proxy_id, proxy)

    async def _apply(self, proxy_id: int, proxy: Proxy | None) -> None:
        manager = self.manager
        if proxy is None or not proxy.desired_running or proxy.provider not in manager.providers:
            if manager.port_of(proxy_id) is not None:
                await manager.stop_here(proxy_id)
            return
        port = manager.port_of(proxy_id)
        if port is None:
            await manager.start(proxy, origin=False)
        else:
            await manager.reconfigure(proxy, port_changed=port != proxy.port, origin=False)

    async def resync(self) -> None:
        """Make every proxy here what the database says (after a reconnect, and now and then)."""
        try:
            async with self.database.session() as session:
                proxies = {proxy.id: proxy for proxy in (await session.scalars(select(Proxy))).all()}
        except Exception as exc:  # the database is down: keep serving what we have
            logger.warning("cannot resynchronise proxies: %s", type(exc).__name__)
            return
        async with self._lock:
            for proxy_id in set(proxies) | set(self.manager.servers):
                try:
                    await self._apply(proxy_id, proxies.get(proxy_id))
                except Exception:
                    logger.exception("proxy %s could not be brought in line", proxy_id)
        with contextlib.suppress(Exception):
            await self.reload_settings()

    async def _resync_forever(self) -> None:
        while True:
            await asyncio.sleep(RESYNC_SECONDS)
            await self.resync()


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, uuid.UUID) else value


def _row(values: dict[str, Any]) -> LogRow:
    row = dict(values)
    if isinstance(row.get("user_id"), str):
        row["user_id"] = uuid.UUID(row["user_id"])
    return row
