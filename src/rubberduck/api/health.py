from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter
from sqlalchemy import text

from rubberduck import __version__
from rubberduck.api.schemas import Health
from rubberduck.db.database import Database, DatabaseUnavailable
from rubberduck.proxy.manager import ProxyManager
from rubberduck.telemetry.logsink import BatchLogWriter


def health_router(
    database: Database,
    manager: ProxyManager,
    writer: BatchLogWriter,
    node: str,
    cluster_problem: Callable[[], str | None] | None = None,
) -> APIRouter:
    """`cluster_problem`: why the node's shared engines (Redis) are not answering, None when they are."""
    router = APIRouter(tags=["health"])

    @router.get("/healthz", response_model=Health)
    async def healthz() -> Health:
        try:
            # The engine bounds the connect and the statement (db/database.py): no timeout of our own,
            # whose cancel could leave a half-open connection behind.
            async with database.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
            db_state = "ok"
        except DatabaseUnavailable as exc:
            db_state = f"error: {exc.reason}"
        except Exception as exc:  # report, don't fail: the health check must answer
            db_state = f"error: {type(exc).__name__}"
        reasons = [] if db_state == "ok" else [f"database: {db_state}"]
        redis_state = None
        if cluster_problem is not None:
            problem = cluster_problem()
            redis_state = problem or "ok"
            if problem:
                reasons.append(problem)
        return Health(
            status="degraded" if reasons else "ok",
            reasons=reasons,
            node=node,
            redis=redis_state,
            version=__version__,
            database=db_state,
            running_proxies=manager.running_count,
            in_flight_requests=manager.in_flight(),
            log_rows_dropped=writer.dropped,
            log_rows_queued=writer.queued,
        )

    return router
