"""Proxy lifecycle: start, stop, reconfigure and restore proxy instances; track their status."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import select, update

from rubberduck.cache.config import CacheConfig
from rubberduck.cache.occurrence import LocalOccurrences, OccurrenceCounter
from rubberduck.db.database import Database
from rubberduck.db.models import Proxy
from rubberduck.faults.config import FailureConfig
from rubberduck.faults.state import FaultState, Limiter, SharedCounter
from rubberduck.providers.base import ProviderAdapter
from rubberduck.proxy.asgi import ProxyApp
from rubberduck.proxy.runtime import ProxyRuntime
from rubberduck.proxy.server import ProxyServer, describe_bind_error, limits_from
from rubberduck.proxy.stages import Stage
from rubberduck.settings import Settings
from rubberduck.telemetry.logsink import LogSink

logger = logging.getLogger("rubberduck.manager")


@dataclass(frozen=True)
class SharedState:
    """What the nodes of a team deployment share (cluster mode); without it all of it is in-process."""

    limiter_for: Callable[[int, int | None, int | None], Limiter]  # (proxy id, rpm, tpm)
    dice_for: Callable[[int], SharedCounter]  # a seeded proxy's request counter, shared by the nodes
    reset_dice: Callable[[int], Awaitable[None]]
    announce: Callable[[int], Awaitable[None]]  # tell the other nodes the proxy's config changed


class ProxyManager:
    def __init__(
        self,
        settings: Settings,
        database: Database,
        providers: dict[str, ProviderAdapter],
        stages: Callable[[], list[Stage]],
        log_sink: LogSink,
        occurrences: OccurrenceCounter | None = None,
        shared: SharedState | None = None,
    ) -> None:
        self.settings = settings
        # `repeats: sequence` counts restart whenever a proxy starts.
        self.occurrences = occurrences or LocalOccurrences()
        self.database = database
        self.providers = providers
        self.build_stages = stages
        self.log_sink = log_sink
        self.shared = shared
        self.servers: dict[int, ProxyServer] = {}
        # Live fault state per proxy: survives config pushes that do not touch the failure config.
        self.fault_states: dict[int, FaultState] = {}

    def fault_state(self, proxy: Proxy) -> FaultState:
        config = FailureConfig.model_validate(proxy.failure or {})
        state = self.fault_states.get(proxy.id)
        if state is None or state.config != config:
            shared, proxy_id = self.shared, proxy.id
            if shared is None:
                state = FaultState(config)
            else:
                state = FaultState(
                    config,
                    lambda rpm, tpm: shared.limiter_for(proxy_id, rpm, tpm),
                    shared.dice_for(proxy_id),
                )
            self.fault_states[proxy.id] = state
        return state

    def runtime_for(self, proxy: Proxy) -> ProxyRuntime:
        return ProxyRuntime(
            proxy_id=proxy.id,
            owner_id=proxy.owner_id,
            adapter=self.providers[proxy.provider],
            upstream_url=proxy.upstream_url,
            upstream_timeout=_timeout_option(proxy.options, self.settings.upstream_timeout_seconds),
            max_request_bytes=self.settings.max_request_bytes,
            max_cached_response_bytes=self.settings.max_cached_response_bytes,
            faults=self.fault_state(proxy),
            options=dict(proxy.options),
            cache=CacheConfig.model_validate(proxy.cache or {}),
        )

    def is_running(self, proxy_id: int) -> bool:
        server = self.servers.get(proxy_id)
        return server is not None and server.running

    @property
    def running_count(self) -> int:
        return sum(1 for server in self.servers.values() if server.running)

    def in_flight(self) -> int:
        return sum(server.app.in_flight for server in self.servers.values())

    def in_flight_for(self, proxy_id: int) -> int:
        server = self.servers.get(proxy_id)
        return server.app.in_flight if server is not None else 0

    def port_of(self, proxy_id: int) -> int | None:
        server = self.servers.get(proxy_id)
        return server.port if server is not None else None

    async def start(self, proxy: Proxy, origin: bool = True) -> None:
        """Start the proxy; a failure (port taken, ...) is recorded on the proxy, never raised.

        `origin`: asked here (the API), so the proxy's status and desired state are written, its
        occurrence counters start over and the other nodes are told. A node following another's
        change (cluster/sync.py) or restoring at start-up passes False.
        """
        if self.is_running(proxy.id):
            return
        if origin:
            await self._set_status(proxy, "starting", None, desired=True)
            await self.occurrences.rewind(proxy.id)
        app = ProxyApp(self.runtime_for(proxy), self.build_stages(), self.log_sink)
        settings = self.settings
        limits = limits_from(settings)
        server = ProxyServer(
            app, settings.proxy_host, proxy.port, settings.graceful_stop_seconds, limits, settings.reuse_port
        )
        try:
            await server.start()
        except OSError as exc:
            message = describe_bind_error(exc, self.settings.proxy_host, proxy.port)
            logger.warning("proxy %s could not start: %s", proxy.id, message)
            if origin or self.shared is None:  # one node's trouble must not mark a proxy others serve
                await self._set_status(proxy, "error", message)
            await self._announce(proxy.id, origin)
            return
        self.servers[proxy.id] = server
        await self._set_status(proxy, "running", None)
        await self._announce(proxy.id, origin)

    async def stop(
        self, proxy: Proxy, force: bool = False, desired: bool = False, origin: bool = True
    ) -> None:
        await self.stop_here(proxy.id, force)
        if origin:
            await self._set_status(proxy, "stopped", None, desired=desired)
            await self._announce(proxy.id, origin)

    async def stop_here(self, proxy_id: int, force: bool = False) -> None:
        """Stop this node's instance only: the database and the other nodes are left as they are."""
        self.fault_states.pop(proxy_id, None)
        server = self.servers.pop(proxy_id, None)
        if server is not None:
            await server.stop(force=force)

    async def reconfigure(
        self, proxy: Proxy, port_changed: bool = False, reseed: bool = False, origin: bool = True
    ) -> None:
        """Push new settings to a running proxy; only a port change needs a restart.

        `reseed` starts the fault dice over even when the failure config is unchanged (a PUT of it).
        """
        if reseed:
            self.fault_states.pop(proxy.id, None)
            if self.shared is not None and origin:
                await self.shared.reset_dice(proxy.id)
        server = self.servers.get(proxy.id)
        if server is not None and port_changed:
            await self.stop(proxy, desired=True, origin=origin)
            await self.start(proxy, origin=origin)
        elif server is not None:
            server.app.runtime = self.runtime_for(proxy)
        await self._announce(proxy.id, origin)

    async def _announce(self, proxy_id: int, origin: bool) -> None:
        if origin and self.shared is not None:
            await self.shared.announce(proxy_id)

    async def restore(self) -> None:
        """Start every proxy that was meant to be running when the server last stopped."""
        async with self.database.session() as session:
            proxies = (await session.scalars(select(Proxy).where(Proxy.desired_running.is_(True)))).all()
        for proxy in proxies:
            if proxy.provider not in self.providers:
                await self._set_status(proxy, "error", f"unknown provider {proxy.provider!r}")
                continue
            await self.start(proxy, origin=False)

    async def shutdown(self) -> None:
        """Stop every instance but keep `desired_running`, so a restart brings them back.

        All together, under one deadline: a stuck request on each of N proxies costs one graceful wait.
        """
        servers = list(self.servers.values())
        self.servers.clear()
        deadline = asyncio.get_running_loop().time() + self.settings.graceful_stop_seconds
        results = await asyncio.gather(
            *(server.stop(force=False, deadline=deadline) for server in servers), return_exceptions=True
        )
        for server, result in zip(servers, results, strict=True):
            if isinstance(result, BaseException):
                logger.error("proxy on port %s did not stop cleanly: %r", server.port, result)
        if self.shared is not None:  # the other nodes still serve these proxies: their status stands
            return
        async with self.database.session() as session:
            await session.execute(
                update(Proxy).where(Proxy.status.in_(("running", "starting"))).values(status="stopped")
            )
            await session.commit()

    async def _set_status(
        self, proxy: Proxy, status: str, error: str | None, desired: bool | None = None
    ) -> None:
        values: dict[str, object] = {"status": status, "last_error": error}
        if desired is not None:
            values["desired_running"] = desired
        async with self.database.session() as session:
            await session.execute(update(Proxy).where(Proxy.id == proxy.id).values(**values))
            await session.commit()
        proxy.status = status
        proxy.last_error = error
        if desired is not None:
            proxy.desired_running = desired


def _timeout_option(options: dict[str, object], default: float) -> float:
    value = options.get("upstream_timeout_seconds")
    return float(value) if isinstance(value, int | float) and value > 0 else default
