"""create_app(settings): the control plane, the proxy manager and the shared stores, wired once."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import Depends, FastAPI, Request, Response
from starlette.middleware.base import RequestResponseEndpoint

from rubberduck import __version__
from rubberduck.api.errors import install_error_handlers
from rubberduck.api.failure import failure_router
from rubberduck.api.health import health_router
from rubberduck.api.logs import logs_router
from rubberduck.api.metrics import metrics_router
from rubberduck.api.ports import PortAllocator
from rubberduck.api.pricing import load_overrides, pricing_router
from rubberduck.api.providers import providers_router
from rubberduck.api.proxies import proxies_router
from rubberduck.api.recordings import recordings_router
from rubberduck.api.static import install_web_ui
from rubberduck.auth.setup import build_accounts, include_account_routes
from rubberduck.cache.memory import MemoryLRU
from rubberduck.cache.occurrence import LocalOccurrences, OccurrenceCounter
from rubberduck.cache.protocol import CacheStore
from rubberduck.cache.sqlstore import SqlCacheStore
from rubberduck.cache.store import LayeredCache
from rubberduck.db.database import Database
from rubberduck.db.migrate import upgrade_to_head
from rubberduck.faults.stages import FaultStage, GlobalIPFilter, IpFilterStage, RateLimitStage
from rubberduck.providers import build_registry
from rubberduck.proxy.manager import ProxyManager, SharedState
from rubberduck.proxy.stages import CacheStage, ForwardStage, Stage
from rubberduck.proxy.upstream import UpstreamClient
from rubberduck.settings import Settings
from rubberduck.telemetry.enrich import UsageEnricher
from rubberduck.telemetry.live import LogBroadcaster
from rubberduck.telemetry.logsink import BatchLogWriter
from rubberduck.telemetry.logstore import LogStore
from rubberduck.telemetry.pricing import PricingTable
from rubberduck.telemetry.retention import RetentionTask
from rubberduck.telemetry.rollups import RollupAggregator
from rubberduck.telemetry.sqlitewriter import SqliteWriterProcess

if TYPE_CHECKING:
    from rubberduck.cluster.node import ClusterNode

HIT_FLUSH_SECONDS = 1.0  # how often the cache's hit counts are written (they are kept in memory until then)

logger = logging.getLogger("rubberduck")


@dataclass
class Services:
    """Everything long-lived, built once per app and handed to whoever needs it."""

    settings: Settings
    database: Database
    cache: LayeredCache
    occurrences: OccurrenceCounter  # `repeats: sequence`: which occurrence of a request this is
    upstream: UpstreamClient
    log_writer: BatchLogWriter
    manager: ProxyManager
    global_filter: GlobalIPFilter
    pricing: PricingTable
    live: LogBroadcaster
    rollups: RollupAggregator
    node: ClusterNode | None  # set when this server is a node of a team deployment (Redis)


class SharedDatabaseRequired(ValueError):
    """Redis without a shared database: nodes could not agree on users, proxies or logs."""


def build_services(settings: Settings) -> Services:
    settings.prepare_data_dir()
    database = Database(settings.resolved_database_url)
    node: ClusterNode | None = None
    shared: SharedState | None = None
    occurrences: OccurrenceCounter = LocalOccurrences()
    store: CacheStore = SqlCacheStore(database)
    if settings.redis_url:
        if database.is_sqlite:
            raise SharedDatabaseRequired(
                "RUBBERDUCK_REDIS_URL makes this server a node of a team deployment, which needs a shared "
                "database: set RUBBERDUCK_DATABASE_URL to Postgres (postgresql+asyncpg://…)"
            )
        from rubberduck.cluster.node import ClusterNode  # only a node loads the Redis client

        node = ClusterNode(settings)
        occurrences, store, shared = node.occurrences, node.cache_store(store), node.shared_state()
    cache = LayeredCache(MemoryLRU(settings.memory_cache_bytes), store)
    upstream = UpstreamClient(settings.upstream_connect_timeout_seconds)
    pricing = PricingTable.load()
    sqlite_file = database.sqlite_file
    writer_process = SqliteWriterProcess(sqlite_file) if sqlite_file and settings.log_writer_process else None
    log_writer = BatchLogWriter(
        LogStore(database, writer_process),
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
            CacheStage(cache, occurrences),
            ForwardStage(upstream),
        ]

    # Each written batch of log rows feeds the live stream and the metrics roll-ups.
    live = LogBroadcaster(per_owner=settings.max_live_streams_per_user)
    rollups = RollupAggregator(database, settings.metrics_flush_seconds)
    log_writer.listeners += [live, rollups]
    manager = ProxyManager(settings, database, build_registry(), stages, log_writer, occurrences, shared)
    return Services(
        settings,
        database,
        cache,
        occurrences,
        upstream,
        log_writer,
        manager,
        global_filter,
        pricing,
        live,
        rollups,
        node,
    )


def create_app(settings: Settings) -> FastAPI:
    services = build_services(settings)
    # The signing secret may live in the database (shared by every node): accounts.start() resolves it,
    # after the migrations and before anything is served.
    accounts = build_accounts(
        settings, None, services.database, services.global_filter, services.manager, services.cache
    )
    auth = accounts.auth
    retention = RetentionTask(services.database, lambda: accounts.policy.accounts.log_retention_days)
    node = services.node
    sync = None
    if node is not None:

        async def reload_settings() -> None:
            await accounts.policy.load()
            await load_overrides(services.database, services.pricing)

        sync = node.attach(
            services.manager, services.database, services.cache, services.live, reload_settings
        )
        # This node's rows reach its own live streams directly and the other nodes' over Redis.
        writer = services.log_writer
        writer.listeners = [sync.publish_rows if x is services.live else x for x in writer.listeners]

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await upgrade_to_head(services.database)
        if node is not None:
            await node.start()
        await accounts.start()  # stored account settings and the global IP lists
        await load_overrides(services.database, services.pricing)
        await services.log_writer.start()
        services.rollups.start()
        retention.start()
        services.cache.start_hit_writer(HIT_FLUSH_SECONDS)
        await services.manager.restore()
        # Start-up objects live as long as the process: keep the collector from rescanning them,
        # which otherwise shows up as latency spikes on the proxies.
        gc.freeze()
        logger.info("Rubberduck %s ready; %d proxies running", __version__, services.manager.running_count)
        try:
            yield
        finally:
            await services.manager.shutdown()
            await services.cache.stop_hit_writer()
            await accounts.stop()
            await services.log_writer.stop()
            await services.rollups.stop()
            await retention.stop()
            await services.upstream.aclose()
            if node is not None:
                await node.stop()
            await services.database.dispose()

    app = FastAPI(title="Rubberduck", version=__version__, lifespan=lifespan)
    app.state.services = services
    install_error_handlers(app)
    if sync is not None:
        announce_settings = sync.announce_settings

        @app.middleware("http")
        async def push_settings(request: Request, call_next: RequestResponseEndpoint) -> Response:
            """Server settings, IP lists and prices changed here reach the other nodes at once."""
            response = await call_next(request)
            path = request.url.path
            if (
                request.method in ("PUT", "POST", "DELETE", "PATCH")
                and response.status_code < 300
                and (path.startswith("/api/settings") or path.startswith("/api/pricing"))
            ):
                await announce_settings()
            return response

    include_account_routes(app, accounts)
    ports = PortAllocator(settings.proxy_host, settings.first_proxy_port, {settings.port})
    app.include_router(proxies_router(auth, services.manager, services.cache, ports))
    app.include_router(recordings_router(auth, services.cache, services.occurrences))
    app.include_router(failure_router(auth, services.manager, services.database, services.global_filter))
    app.include_router(
        providers_router(services.manager.providers), dependencies=[Depends(auth.current_user)]
    )
    app.include_router(
        health_router(
            services.database,
            services.manager,
            services.log_writer,
            settings.resolved_node_name,
            (lambda: node.problem) if node is not None else None,
        )
    )
    app.include_router(pricing_router(auth, services.database, services.pricing))
    app.include_router(logs_router(auth, services.database, services.log_writer, services.live))
    app.include_router(
        metrics_router(auth, services.manager, services.rollups, services.log_writer, settings.metrics_token)
    )
    install_web_ui(app)  # the router's fallback: it never shadows an API route
    return app
