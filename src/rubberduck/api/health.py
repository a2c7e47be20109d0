from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from rubberduck import __version__
from rubberduck.api.schemas import Health
from rubberduck.db.database import Database
from rubberduck.proxy.manager import ProxyManager
from rubberduck.telemetry.logsink import BatchLogWriter


def health_router(database: Database, manager: ProxyManager, writer: BatchLogWriter) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz", response_model=Health)
    async def healthz() -> Health:
        try:
            async with database.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
            db_state = "ok"
        except Exception as exc:  # report, don't fail: the health check must answer
            db_state = f"error: {type(exc).__name__}"
        return Health(
            status="ok" if db_state == "ok" else "degraded",
            version=__version__,
            database=db_state,
            running_proxies=manager.running_count,
            in_flight_requests=manager.in_flight(),
            log_rows_dropped=writer.dropped,
            log_rows_queued=writer.queued,
        )

    return router
