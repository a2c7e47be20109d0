"""Metrics: the caller's roll-ups as JSON, and Prometheus text for the whole server."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import PlainTextResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from rubberduck.api.params import ProxyIdFilter
from rubberduck.auth.users import Auth
from rubberduck.db.models import Proxy, User
from rubberduck.proxy.manager import ProxyManager
from rubberduck.telemetry.logsink import BatchLogWriter
from rubberduck.telemetry.rollups import LATENCY_BOUNDS, RollupAggregator, Tally, percentile, window_span


def _summary(tally: Tally, minutes: float) -> dict[str, Any]:
    requests = tally.requests
    return {
        "requests": requests,
        "rpm": round(requests / minutes, 3) if minutes else 0.0,
        "cache_hit_rate": tally.cache_hits / requests if requests else None,
        "error_rate": tally.errors / requests if requests else None,
        "p50_ms": percentile(tally.latency_histogram, 0.5),
        "p95_ms": percentile(tally.latency_histogram, 0.95),
        "input_tokens": tally.input_tokens,
        "output_tokens": tally.output_tokens,
        "cost_usd": round(tally.cost_usd, 8),
        "saved_usd": round(tally.saved_usd, 8),
    }


def metrics_router(
    auth: Auth, manager: ProxyManager, rollups: RollupAggregator, writer: BatchLogWriter, metrics_token: str
) -> APIRouter:
    router = APIRouter(tags=["metrics"])

    @router.get("/api/metrics")
    async def get_metrics(
        window: str = Query("1h", pattern="^(1h|24h|7d)$"),
        proxy_id: ProxyIdFilter = None,
        user: User = Depends(auth.current_user),
        session: AsyncSession = Depends(auth.get_session),
    ) -> dict[str, Any]:
        proxies = (await session.scalars(select(Proxy).where(Proxy.owner_id == user.id))).all()
        if proxy_id is not None and proxy_id not in {p.id for p in proxies}:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Proxy not found")
        span, resolution = window_span(window)
        since = datetime.now(UTC) - span
        await writer.flush()  # the newest requests count too
        series = await rollups.query(user.id, resolution, since, proxy_id)
        total = Tally()
        for tally in series.values():
            total.merge(tally)
        step_minutes = {"1m": 1, "15m": 15, "1h": 60}[resolution]
        running = sum(1 for p in proxies if manager.is_running(p.id))
        scope = [p for p in proxies if proxy_id is None or p.id == proxy_id]
        return {
            "window": window,
            "resolution": resolution,
            "totals": _summary(total, span.total_seconds() / 60),
            "series": [{"t": start.isoformat(), **_summary(t, step_minutes)} for start, t in series.items()],
            "proxies": {"running": running, "stopped": len(proxies) - running},
            "in_flight": sum(manager.in_flight_for(p.id) for p in scope),
        }

    @router.get("/metrics", response_class=PlainTextResponse, include_in_schema=False)
    async def prometheus(request: Request) -> PlainTextResponse:
        """Server-wide counters since start; scraped with `Authorization: Bearer <RUBBERDUCK_METRICS_TOKEN>`."""
        offered = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not metrics_token or not secrets.compare_digest(offered, metrics_token):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail="Set RUBBERDUCK_METRICS_TOKEN and send it as a bearer token",
            )
        return PlainTextResponse(
            _exposition(manager, rollups, writer), media_type="text/plain; version=0.0.4"
        )

    return router


def _exposition(manager: ProxyManager, rollups: RollupAggregator, writer: BatchLogWriter) -> str:
    lines = [
        "# HELP rubberduck_running_proxies Proxy instances running now.",
        "# TYPE rubberduck_running_proxies gauge",
        f"rubberduck_running_proxies {manager.running_count}",
        "# HELP rubberduck_in_flight_requests Requests being answered now.",
        "# TYPE rubberduck_in_flight_requests gauge",
        f"rubberduck_in_flight_requests {manager.in_flight()}",
        "# HELP rubberduck_log_rows_written_total Log rows written.",
        "# TYPE rubberduck_log_rows_written_total counter",
        f"rubberduck_log_rows_written_total {writer.written}",
        "# HELP rubberduck_log_rows_dropped_total Log rows dropped because the buffer was full.",
        "# TYPE rubberduck_log_rows_dropped_total counter",
        f"rubberduck_log_rows_dropped_total {writer.dropped}",
        "# HELP rubberduck_log_rows_queued Log rows taken from requests and not yet written.",
        "# TYPE rubberduck_log_rows_queued gauge",
        f"rubberduck_log_rows_queued {writer.queued}",
        "# HELP rubberduck_log_write_failures_total Failed log batch writes (retried).",
        "# TYPE rubberduck_log_write_failures_total counter",
        f"rubberduck_log_write_failures_total {writer.failed_writes}",
    ]
    counters: dict[str, tuple[str, Callable[[Tally], float]]] = {
        "requests": ("Requests answered.", lambda t: t.requests),
        "cache_hits": ("Requests answered from the cache.", lambda t: t.cache_hits),
        "errors": ("Answers with status >= 400.", lambda t: t.errors),
        "faults": ("Simulated faults fired.", lambda t: t.faults),
        "input_tokens": ("Input tokens.", lambda t: t.input_tokens),
        "output_tokens": ("Output tokens.", lambda t: t.output_tokens),
        "cost_usd": ("Cost in USD.", lambda t: round(t.cost_usd, 8)),
        "saved_usd": ("Cost saved by cache hits in USD.", lambda t: round(t.saved_usd, 8)),
    }
    for name, (text, value) in counters.items():
        lines += [f"# HELP rubberduck_{name}_total {text}", f"# TYPE rubberduck_{name}_total counter"]
        lines += [
            f'rubberduck_{name}_total{{proxy="{pid}"}} {value(t)}'
            for pid, t in sorted(rollups.lifetime.items())
        ]
    lines += [
        "# HELP rubberduck_request_latency_ms Request latency.",
        "# TYPE rubberduck_request_latency_ms histogram",
    ]
    for pid, tally in sorted(rollups.lifetime.items()):
        cumulative = 0
        for bound, count in zip((*LATENCY_BOUNDS, "+Inf"), tally.latency_histogram, strict=True):
            cumulative += count
            lines.append(f'rubberduck_request_latency_ms_bucket{{proxy="{pid}",le="{bound}"}} {cumulative}')
        lines.append(f'rubberduck_request_latency_ms_count{{proxy="{pid}"}} {tally.requests}')
    return "\n".join(lines) + "\n"
