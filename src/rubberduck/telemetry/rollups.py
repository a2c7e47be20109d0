"""Metrics roll-ups: per proxy and time bucket at 1m/15m/1h, fed by the log writer, flushed to the DB."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from rubberduck.db.database import Database
from rubberduck.db.models import MetricsRollup
from rubberduck.telemetry.sqlite_rows import LogRow

logger = logging.getLogger("rubberduck.metrics")

RESOLUTIONS = {"1m": 60, "15m": 900, "1h": 3600}
# Upper bounds (ms) of the latency histogram buckets; the last bucket is open-ended.
LATENCY_BOUNDS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000)
BUCKETS = len(LATENCY_BOUNDS) + 1


@dataclass
class Tally:
    requests: int = 0
    cache_hits: int = 0
    errors: int = 0
    faults: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float = 0.0
    saved_usd: float = 0.0
    latency_histogram: list[int] = field(default_factory=lambda: [0] * BUCKETS)

    def add_row(self, row: LogRow) -> None:
        self.requests += 1
        self.cache_hits += row["cache_status"] == "hit"
        self.errors += row["status"] >= 400
        self.faults += row.get("fault") is not None
        self.input_tokens += row.get("input_tokens") or 0
        self.output_tokens += row.get("output_tokens") or 0
        self.cached_tokens += row.get("cached_tokens") or 0
        self.cost_usd += row.get("cost_usd") or 0.0
        self.saved_usd += row.get("saved_usd") or 0.0
        self.latency_histogram[bisect.bisect_left(LATENCY_BOUNDS, row["latency_ms"])] += 1

    def merge(self, other: Tally | MetricsRollup) -> None:
        for name in (
            "requests",
            "cache_hits",
            "errors",
            "faults",
            "input_tokens",
            "output_tokens",
            "cached_tokens",
        ):
            setattr(self, name, getattr(self, name) + (getattr(other, name) or 0))
        self.cost_usd += other.cost_usd or 0.0
        self.saved_usd += other.saved_usd or 0.0
        for index, count in enumerate(list(other.latency_histogram or [])[:BUCKETS]):
            self.latency_histogram[index] += count


def percentile(histogram: list[int], fraction: float) -> float | None:
    """Linear interpolation inside the bucket that holds the percentile."""
    total = sum(histogram)
    if not total:
        return None
    target = fraction * total
    seen = 0
    for index, count in enumerate(histogram):
        if count and seen + count >= target:
            low = 0.0 if index == 0 else float(LATENCY_BOUNDS[index - 1])
            high = float(LATENCY_BOUNDS[index]) if index < len(LATENCY_BOUNDS) else low * 2
            return low + (high - low) * (target - seen) / count
        seen += count
    return float(LATENCY_BOUNDS[-1])


class RollupAggregator:
    """Keeps unflushed tallies in memory; `flush` merges them into the stored rows."""

    def __init__(self, database: Database, flush_seconds: float = 5.0) -> None:
        self.database = database
        self.flush_seconds = flush_seconds
        # (resolution, bucket epoch, proxy, owner): ids of deleted proxies can be given out again.
        self.pending: dict[tuple[str, int, int, Any], Tally] = {}
        self.lifetime: dict[int, Tally] = {}  # since start, for /metrics
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def __call__(self, rows: list[LogRow]) -> None:
        # Rows are tallied once, per minute; the coarser buckets are merged from those at flush time.
        # A batch spans few minutes and proxies: tally it apart, then merge those few tallies.
        minute = RESOLUTIONS["1m"]
        batch: dict[tuple[str, int, int, Any], Tally] = {}
        for row in rows:
            epoch = int(row["created_at"])
            key = ("1m", epoch - epoch % minute, row["proxy_id"], row["user_id"])
            tally = batch.get(key)
            if tally is None:
                tally = batch[key] = Tally()
            tally.add_row(row)
        for key, tally in batch.items():
            self.pending.setdefault(key, Tally()).merge(tally)
            self.lifetime.setdefault(key[2], Tally()).merge(tally)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="metrics-rollups")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self.flush()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.flush_seconds)
            try:
                await self.flush()
            except Exception:
                logger.warning("flushing metrics roll-ups failed; will retry", exc_info=True)

    async def flush(self) -> None:
        async with self._lock:
            pending, self.pending = self.pending, {}
            if not pending:
                return
            try:
                await self._merge_into_db(pending)
            except Exception:
                for key, tally in pending.items():  # keep them for the next attempt
                    self.pending.setdefault(key, Tally()).merge(tally)
                raise

    async def _merge_into_db(self, pending: dict[tuple[str, int, int, Any], Tally]) -> None:
        coarser: dict[tuple[str, int, int, Any], Tally] = {}
        for (_, epoch, proxy_id, user_id), tally in pending.items():
            for resolution, seconds in RESOLUTIONS.items():
                if resolution != "1m":
                    coarser.setdefault(
                        (resolution, epoch - epoch % seconds, proxy_id, user_id), Tally()
                    ).merge(tally)
        pending = {**pending, **coarser}
        # Several nodes merge into the same buckets: each row is locked while it is read and rewritten
        # (Postgres; SQLite has one writer anyway), in one order so two nodes never wait on each other.
        # A bucket another node inserted first fails this batch, which is kept and merged next time.
        ordered = sorted(pending.items(), key=lambda item: (*item[0][:3], str(item[0][3])))
        async with self.database.session() as session:
            for (resolution, epoch, proxy_id, user_id), tally in ordered:
                start = datetime.fromtimestamp(epoch, UTC)
                row = await session.get(
                    MetricsRollup, (resolution, start, proxy_id, user_id), with_for_update=True
                )
                if row is None:
                    row = MetricsRollup(
                        resolution=resolution, bucket_start=start, proxy_id=proxy_id, user_id=user_id
                    )
                    session.add(row)
                    merged = tally
                else:
                    merged = Tally()
                    merged.merge(row)
                    merged.merge(tally)
                for name in ("requests", "cache_hits", "errors", "faults", "input_tokens", "output_tokens",
                             "cached_tokens", "cost_usd", "saved_usd"):  # fmt: skip
                    setattr(row, name, getattr(merged, name))
                row.latency_histogram = list(merged.latency_histogram)
            await session.commit()

    async def query(
        self, user_id: Any, resolution: str, since: datetime, proxy_id: int | None
    ) -> dict[datetime, Tally]:
        """Stored buckets for one user (and proxy), merged across proxies, by bucket start."""
        await self.flush()
        statement = select(MetricsRollup).where(
            MetricsRollup.resolution == resolution,
            MetricsRollup.user_id == user_id,
            MetricsRollup.bucket_start >= since,
        )
        if proxy_id is not None:
            statement = statement.where(MetricsRollup.proxy_id == proxy_id)
        series: dict[datetime, Tally] = {}
        async with self.database.session() as session:
            for row in (await session.scalars(statement)).all():
                series.setdefault(row.bucket_start, Tally()).merge(row)
        return dict(sorted(series.items()))


def window_span(window: str) -> tuple[timedelta, str]:
    """The span of a metrics window and the resolution that draws it well."""
    spans = {
        "1h": (timedelta(hours=1), "1m"),
        "24h": (timedelta(days=1), "15m"),
        "7d": (timedelta(days=7), "1h"),
    }
    return spans[window]
