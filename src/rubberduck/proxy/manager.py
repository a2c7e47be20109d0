"""Proxy lifecycle: start, stop, reconfigure and restore proxy instances; track their status."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sqlalchemy import select, update

from rubberduck.cache.config import CacheConfig
from rubberduck.cache.occurrence import LocalOccurrences, OccurrenceCounter
from rubberduck.db.database import Database
from rubberduck.db.models import Proxy
from rubberduck.faults.config import FailureConfig
from rubberduck.faults.state import FaultState
from rubberduck.providers.base import ProviderAdapter
from rubberduck.proxy.asgi import ProxyApp
from rubberduck.proxy.runtime import ProxyRuntime
from rubberduck.proxy.server import ProxyServer, describe_bind_error, limits_from
from rubberduck.proxy.stages import Stage
from rubberduck.settings import Settings
from rubberduck.telemetry.logsink import LogSink

logger = logging.getLogger("rubberduck.manager")


class ProxyManager:
    def __init__(
        self,
        settings: Settings,
        database: Database,
        providers: dict[str, ProviderAdapter],
        stages: Callable[[], list[Stage]],
        log_sink: LogSink,
        occurrences: OccurrenceCounter | None = None,
    ) -> None:
        self.settings = settings
        # `repeats: sequence` counts restart whenever a proxy starts.
        self.occurrences = occurrences or LocalOccurrences()
        self.database = database
        self.providers = providers
        self.build_stages = stages
        self.log_sink = log_sink
        self.servers: dict[int, ProxyServer] = {}
        # Live fault state per proxy: survives config pushes that do not touch the failure config.
        self.fault_states: dict[int, FaultState] = {}

    def fault_state(self, proxy: Proxy) -> FaultState:
        config = FailureConfig.model_validate(proxy.failure or {})
        state = self.fault_states.get(proxy.id)
        if state is None or state.config != config:
            state = self.fault_states[proxy.id] = FaultState(config)
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

    async def start(self, proxy: Proxy) -> None:
        """Start the proxy; a failure (port taken, ...) is recorded on the proxy, never raised."""
        if self.is_running(proxy.id):
            return
        await self._set_status(proxy, "starting", None, desired=True)
        self.occurrences.rewind(proxy.id)
        app = ProxyApp(self.runtime_for(proxy), self.build_stages(), self.log_sink)
        settings = self.settings
        limits = limits_from(settings)
        server = ProxyServer(app, settings.proxy_host, proxy.port, settings.graceful_stop_seconds, limits)
        try:
            await server.start()
        except OSError as exc:
            message = describe_bind_error(exc, self.settings.proxy_host, proxy.port)
            logger.warning("proxy %s could not start: %s", proxy.id, message)
            await self._set_status(proxy, "error", message)
            return
        self.servers[proxy.id] = server
        await self._set_status(proxy, "running", None)

    async def stop(self, proxy: Proxy, force: bool = False, desired: bool = False) -> None:
        self.fault_states.pop(proxy.id, None)
        server = self.servers.pop(proxy.id, None)
        if server is not None:
            await server.stop(force=force)
        await self._set_status(proxy, "stopped", None, desired=desired)

    async def reconfigure(self, proxy: Proxy, port_changed: bool = False, reseed: bool = False) -> None:
        """Push new settings to a running proxy; only a port change needs a restart.

        `reseed` starts the fault dice over even when the failure config is unchanged (a PUT of it).
        """
        if reseed:
            self.fault_states.pop(proxy.id, None)
        server = self.servers.get(proxy.id)
        if server is None:
            return
        if port_changed:
            await self.stop(proxy, desired=True)
            await self.start(proxy)
        else:
            server.app.runtime = self.runtime_for(proxy)

    async def restore(self) -> None:
        """Start every proxy that was meant to be running when the server last stopped."""
        async with self.database.session() as session:
            proxies = (await session.scalars(select(Proxy).where(Proxy.desired_running.is_(True)))).all()
        for proxy in proxies:
            if proxy.provider not in self.providers:
                await self._set_status(proxy, "error", f"unknown provider {proxy.provider!r}")
                continue
            await self.start(proxy)

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
