"""The log filters shared by the list, export, stream and purge routes, as SQL and as a row test."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import HTTPException, Query, status
from sqlalchemy import ColumnElement, and_

from rubberduck.api.params import ProxyIdFilter
from rubberduck.db.models import RequestLog
from rubberduck.telemetry.logstore import row_time
from rubberduck.telemetry.sqlite_rows import LogRow

CACHE_STATUSES = ("hit", "miss", "bypass")
_STATUS = re.compile(r"([1-5])([0-9][0-9]|xx)", re.ASCII)  # a status code or class, 100-599


def aware(moment: datetime | None) -> datetime | None:
    """In UTC: SQLite compares the stored text, so an offset must be converted, not kept."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


@dataclass
class LogFilters:
    proxy_id: int | None = None
    status: str | None = None
    cache_status: str | None = None
    fault: str | None = None
    model: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def status_range(self) -> tuple[int, int] | None:
        if self.status is None:
            return None
        found = _STATUS.fullmatch(self.status.strip().lower())
        if found is not None:
            first, rest = found.groups()
            if rest == "xx":
                return int(first) * 100, int(first) * 100 + 99
            return int(first + rest), int(first + rest)
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=[
                {
                    "loc": ["query", "status"],
                    "msg": "use a code like 429 or a class like 4xx (100-599)",
                    "type": "value_error",
                }
            ],
        )

    def clauses(self, user_id: uuid.UUID) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = [RequestLog.user_id == user_id]
        if self.proxy_id is not None:
            clauses.append(RequestLog.proxy_id == self.proxy_id)
        span = self.status_range()
        if span is not None:
            clauses.append(and_(RequestLog.status >= span[0], RequestLog.status <= span[1]))
        if self.cache_status is not None:
            clauses.append(RequestLog.cache_status == self.cache_status)
        if self.fault is not None:
            clauses.append(
                RequestLog.fault.is_(None) if self.fault == "none" else RequestLog.fault == self.fault
            )
        if self.model is not None:
            clauses.append(RequestLog.model == self.model)
        if self.since is not None:
            clauses.append(RequestLog.created_at >= self.since)
        if self.until is not None:
            clauses.append(RequestLog.created_at < self.until)
        return clauses

    def matches(self, row: LogRow, user_id: uuid.UUID) -> bool:
        """The same test in Python, for rows streamed live before anyone queries them."""
        span = self.status_range()
        return (
            row.get("user_id") == user_id
            and (self.proxy_id is None or row["proxy_id"] == self.proxy_id)
            and (span is None or span[0] <= row["status"] <= span[1])
            and (self.cache_status is None or row["cache_status"] == self.cache_status)
            and (self.fault is None or row.get("fault") == (None if self.fault == "none" else self.fault))
            and (self.model is None or row.get("model") == self.model)
            and (self.since is None or row_time(row) >= self.since)
            and (self.until is None or row_time(row) < self.until)
        )


def log_filters(
    proxy_id: ProxyIdFilter = None,
    status: str | None = Query(None, description="a code (429) or a class (4xx)"),
    cache_status: str | None = Query(None, pattern="^(hit|miss|bypass)$"),
    fault: str | None = Query(None, description="a fault name such as error_429, or `none`"),
    model: str | None = Query(None),
    since: datetime | None = Query(None),
    until: datetime | None = Query(None),
) -> LogFilters:
    filters = LogFilters(proxy_id, status, cache_status, fault, model, aware(since), aware(until))
    filters.status_range()  # checked here, at the edge: 422 before any query or stream starts
    return filters


def row_to_json(row: RequestLog | LogRow) -> dict[str, Any]:
    created: datetime | None
    if isinstance(row, dict):
        values, created = row, row_time(row)
    else:
        values = {name: getattr(row, name) for name in LOG_FIELDS}
        values["id"] = row.id
        created = aware(row.created_at)
    return {
        "id": values.get("id"),
        "created_at": created.isoformat() if created else None,
        **{name: values.get(name) for name in LOG_FIELDS},
    }


LOG_FIELDS = (
    "proxy_id", "client_ip", "method", "path", "operation", "model", "stream", "status", "latency_ms",
    "upstream_ms", "ttfb_ms", "cache_status", "cache_key", "fault", "input_tokens", "output_tokens",
    "cached_tokens", "cost_usd", "saved_usd", "error",
)  # fmt: skip
