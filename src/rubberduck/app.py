"""create_app(settings): the control plane, the proxy manager and the shared stores, wired once."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI

from rubberduck import __version__
from rubberduck.api.failure import IP_FILTER_KEY, apply_global_lists, failure_router
from rubberduck.api.health import health_router
from rubberduck.api.logs import logs_router
from rubberduck.api.metrics import metrics_router
from rubberduck.api.ports import PortAllocator
from rubberduck.api.providers import providers_router
from rubberduck.api.proxies import proxies_router
from rubberduck.auth.schemas import UserCreate, UserRead, UserUpdate
from rubberduck.auth.users import build_auth
from rubberduck.cache.memory import MemoryLRU
from rubberduck.cache.store import LayeredCache, SqlCacheStore
from rubberduck.db.database import Database
from rubberduck.db.migrate import upgrade_to_head
from rubberduck.db.settings_store import load_setting
from rubberduck.faults.stages import FaultStage, GlobalIPFilter, IpFilterStage, RateLimitStage
from rubberduck.providers import build_registry
from rubberduck.proxy.manager import ProxyManager
from rubberduck.proxy.stages import CacheStage, ForwardStage, Stage
from rubberduck.proxy.upstream import UpstreamClient
from rubberduck.settings import Settings
from rubberduck.telemetry.enrich import UsageEnricher
from rubberduck.telemetry.live import LogBroadcaster
from rubberduck.telemetry.logsink import BatchLogWriter
from rubberduck.telemetry.logstore import LogStore
from rubberduck.telemetry.pricing import PricingTable
from rubberduck.telemetry.rollups import RollupAggregator

logger = logging.getLogger("rubberduck")


@dataclass
class Services:
    """Everything long-lived, built once per app and handed to whoever needs it."""

    settings: Settings
    database: Database
    cache: LayeredCache
    upstream: UpstreamClient
    log_writer: BatchLogWriter
    manager: ProxyManager
    global_filter: GlobalIPFilter
    pricing: PricingTable
    live: LogBroadcaster
    rollups: RollupAggregator


def build_services(settings: Settings) -> Services:
    settings.prepare_data_dir()
    database = Database(settings.resolved_database_url)
    cache = LayeredCache(MemoryLRU(settings.memory_cache_bytes), SqlCacheStore(database))
    upstream = UpstreamClient(settings.upstream_connect_timeout_seconds)
    pricing = PricingTable.load()
    log_writer = BatchLogWriter(
        LogStore(database),
        settings.log_queue_size,
        settings.log_batch_size,
        settings.log_flush_seconds,
        enrich=UsageEnricher(pricing),
    )

    global_filter = GlobalIPFilter()

    def stages() -> list[Stage]:
        # The order is the contract: IP filter, rate limit, faults, then cache and upstream.
        return [
            IpFilterStage(global_filter),
            RateLimitStage(),
            FaultStage(),
            CacheStage(cache),
            ForwardStage(upstream),
        ]

    # Each written batch of log rows feeds the live stream and the metrics roll-ups.
    live = LogBroadcaster()
    rollups = RollupAggregator(database, settings.metrics_flush_seconds)
    log_writer.listeners += [live, rollups]
    manager = ProxyManager(settings, database, build_registry(), stages, log_writer)
    return Services(
        settings, database, cache, upstream, log_writer, manager, global_filter, pricing, live, rollups
    )


def create_app(settings: Settings) -> FastAPI:
    services = build_services(settings)
    secret = settings.resolved_secret()
    auth = build_auth(services.database, secret, settings.jwt_lifetime_seconds)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await upgrade_to_head(services.database)
        apply_global_lists(services.global_filter, await load_setting(services.database, IP_FILTER_KEY))
        await services.log_writer.start()
        services.rollups.start()
        await services.manager.restore()
        # Start-up objects live as long as the process: keep the collector from rescanning them,
        # which otherwise shows up as latency spikes on the proxies.
        gc.freeze()
        logger.info("Rubberduck %s ready; %d proxies running", __version__, services.manager.running_count)
        try:
            yield
        finally:
            await services.manager.shutdown()
            await services.log_writer.stop()
            await services.rollups.stop()
            await services.upstream.aclose()
            await services.database.dispose()

    app = FastAPI(title="Rubberduck", version=__version__, lifespan=lifespan)
    app.state.services = services
    users = auth.users
    app.include_router(users.get_auth_router(auth.backend), prefix="/api/auth/jwt", tags=["auth"])
    app.include_router(users.get_register_router(UserRead, UserCreate), prefix="/api/auth", tags=["auth"])
    app.include_router(users.get_users_router(UserRead, UserUpdate), prefix="/api/users", tags=["users"])
    ports = PortAllocator(settings.proxy_host, settings.first_proxy_port, {settings.port})
    app.include_router(proxies_router(auth, services.manager, services.cache, ports))
    app.include_router(failure_router(auth, services.manager, services.database, services.global_filter))
    app.include_router(providers_router(services.manager.providers))
    app.include_router(health_router(services.database, services.manager, services.log_writer))
    app.include_router(logs_router(auth, services.database, services.log_writer, services.live))
    app.include_router(
        metrics_router(auth, services.manager, services.rollups, services.log_writer, settings.metrics_token)
    )
    return app
