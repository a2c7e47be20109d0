"""The request log API: pages, export, purge and a live stream — always only the caller's rows."""

from __future__ import annotations

import asyncio
import base64
import csv
import io
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy import and_, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import Receive, Scope, Send

from rubberduck.api.logfilters import LOG_FIELDS, LogFilters, aware, log_filters, row_to_json
from rubberduck.api.params import MAX_ROW_ID
from rubberduck.auth.users import Auth
from rubberduck.db.database import Database
from rubberduck.db.models import RequestLog, User
from rubberduck.telemetry.live import LogBroadcaster, TooManySubscriptions
from rubberduck.telemetry.logsink import BatchLogWriter

EXPORT_BATCH = 1000
KEEPALIVE_SECONDS = 15.0


class LogPage(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None


class Deleted(BaseModel):
    deleted: int


def _encode_cursor(row: RequestLog) -> str:
    return base64.urlsafe_b64encode(f"{row.created_at.isoformat()}|{row.id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        moment, ident = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        row_id = int(ident)
        if not 1 <= row_id <= MAX_ROW_ID:
            raise ValueError("row id out of range")
        return datetime.fromisoformat(moment), row_id
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=[{"loc": ["query", "cursor"], "msg": "not a cursor from this API", "type": "value_error"}],
        ) from exc


def logs_router(auth: Auth, database: Database, writer: BatchLogWriter, live: LogBroadcaster) -> APIRouter:
    router = APIRouter(prefix="/api/logs", tags=["logs"])
    newest_first = (RequestLog.created_at.desc(), RequestLog.id.desc())

    @router.get("", response_model=LogPage)
    async def list_logs(
        filters: LogFilters = Depends(log_filters),
        limit: int = Query(50, ge=1, le=500),
        cursor: str | None = Query(None),
        user: User = Depends(auth.current_user),
        session: AsyncSession = Depends(auth.get_session),
    ) -> LogPage:
        statement = select(RequestLog).where(*filters.clauses(user.id))
        if cursor:
            moment, ident = _decode_cursor(cursor)
            statement = statement.where(
                # The plain bound lets SQLite seek the index to the cursor instead of walking to it.
                RequestLog.created_at <= moment,
                or_(
                    RequestLog.created_at < moment,
                    and_(RequestLog.created_at == moment, RequestLog.id < ident),
                ),
            )
        rows = (await session.scalars(statement.order_by(*newest_first).limit(limit + 1))).all()
        more = len(rows) > limit
        rows = rows[:limit]
        return LogPage(
            items=[row_to_json(r) for r in rows], next_cursor=_encode_cursor(rows[-1]) if more else None
        )

    @router.get("/export")
    async def export_logs(
        format: str = Query("csv", pattern="^(csv|json)$"),
        filters: LogFilters = Depends(log_filters),
        user: User = Depends(auth.current_user),
    ) -> StreamingResponse:
        """Streamed in batches from the database: never the whole result in memory."""
        statement = select(RequestLog).where(*filters.clauses(user.id)).order_by(*newest_first)

        async def rows() -> AsyncIterator[dict[str, Any]]:
            async with database.session() as session:
                result = await session.stream_scalars(statement.execution_options(yield_per=EXPORT_BATCH))
                async for row in result:
                    yield row_to_json(row)

        if format == "json":
            body: AsyncIterator[bytes] = _json_array(rows())
            media, name = "application/json", "rubberduck-logs.json"
        else:
            body, media, name = _csv(rows()), "text/csv; charset=utf-8", "rubberduck-logs.csv"
        headers = {"content-disposition": f'attachment; filename="{name}"'}
        return StreamingResponse(body, media_type=media, headers=headers)

    @router.delete("", response_model=Deleted)
    async def purge_logs(
        since: datetime | None = Query(None),
        until: datetime | None = Query(None),
        user: User = Depends(auth.current_user),
        session: AsyncSession = Depends(auth.get_session),
    ) -> Deleted:
        if since is None and until is None:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                detail=[{"loc": ["query", "since"], "msg": "give since and/or until", "type": "value_error"}],
            )
        await writer.flush()  # rows still queued belong to the range too
        span = LogFilters(since=aware(since), until=aware(until))
        result = await session.execute(delete(RequestLog).where(*span.clauses(user.id)))
        await session.commit()
        return Deleted(deleted=int(getattr(result, "rowcount", 0) or 0))

    @router.get("/stream")
    async def stream_logs(
        request: Request,
        filters: LogFilters = Depends(log_filters),
        access_token: str | None = Query(None, description="for EventSource, which cannot send headers"),
    ) -> StreamingResponse:
        """Rows as server-sent events while they are written; at most `per_owner` streams per user.

        The caller is looked up once, in a session closed before the stream starts (no dependency
        that yields a session: those stay open until the response ends), so an open stream holds no
        database connection however long it lasts.
        """
        token = access_token or request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        user = await auth.user_for_token(token) if token else None
        if user is None or not user.is_active:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="Unauthorized")
        user_id = user.id
        try:
            subscription = live.subscribe(lambda row: filters.matches(row, user_id), owner=user_id)
        except TooManySubscriptions:
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                detail=f"At most {live.per_owner} live log streams may be open per user; close one first.",
            ) from None

        async def events() -> AsyncIterator[bytes]:
            try:
                yield b": connected\n\n"
                while True:
                    try:
                        row = await asyncio.wait_for(subscription.queue.get(), KEEPALIVE_SECONDS)
                    except TimeoutError:
                        yield b": keep-alive\n\n"
                        continue
                    if row is None:  # the server is stopping
                        return
                    yield b"event: log\ndata: " + orjson.dumps(row_to_json(row)) + b"\n\n"
            finally:
                live.unsubscribe(subscription)

        return _LiveStream(
            lambda: live.unsubscribe(subscription),
            events(),
            media_type="text/event-stream",
            headers={"cache-control": "no-cache"},
        )

    return router


class _LiveStream(StreamingResponse):
    """A stream that gives its subscription back however it ends, even before its first event."""

    def __init__(self, release: Callable[[], None], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.release()


async def _json_array(rows: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    yield b"["
    first = True
    async for row in rows:
        yield (b"" if first else b",") + orjson.dumps(row)
        first = False
    yield b"]"


async def _csv(rows: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    columns = ["id", "created_at", *LOG_FIELDS]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    count = 0
    async for row in rows:
        writer.writerow(row)
        count += 1
        if count % EXPORT_BATCH == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()
