"""The data plane: a pure ASGI app, one per proxy instance. No FastAPI, no DB reads per request."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from rubberduck.cache.key import cache_key
from rubberduck.providers.base import RequestView
from rubberduck.proxy.exchange import Exchange, ProxyResponse
from rubberduck.proxy.headers import header_dict
from rubberduck.proxy.runtime import ProxyRuntime
from rubberduck.proxy.stages import Stage
from rubberduck.telemetry.logsink import LogSink
from rubberduck.types import RawHeaders, Receive, Scope, Send

logger = logging.getLogger("rubberduck.proxy")

CACHEABLE_METHODS = frozenset({"GET", "POST"})


class BodyTooLarge(Exception):
    pass


class ProxyApp:
    def __init__(self, runtime: ProxyRuntime, stages: list[Stage], log_sink: LogSink) -> None:
        self.runtime = runtime  # replaced as a whole when the proxy's config changes
        self.stages = stages
        self.log_sink = log_sink
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        self.in_flight += 1
        try:
            await self._handle(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        runtime = self.runtime
        adapter = runtime.adapter
        try:
            body = await _read_body(receive, runtime.max_request_bytes)
        except BodyTooLarge:
            limit = runtime.max_request_bytes
            reply = adapter.error(
                413, "request_too_large", f"Request body exceeds the limit of {limit} bytes."
            )
            await _send_simple(send, reply.status, reply.headers, reply.body, b"bypass")
            return
        raw_headers: RawHeaders = scope["headers"]
        headers = header_dict(raw_headers)
        view = RequestView(
            method=scope["method"],
            path=scope["path"],
            query=scope["query_string"].decode("latin-1"),
            headers=headers,
            body=body,
        )
        parsed, json_ok = _parse_json(body, headers)
        if not json_ok:
            reply = adapter.error(
                400,
                "invalid_request",
                "We could not parse the JSON body of your request: it is not valid JSON.",
            )
            await _send_simple(send, reply.status, reply.headers, reply.body, b"bypass")
            return
        view.json = parsed
        client = scope.get("client")
        exchange = Exchange(
            proxy_id=runtime.proxy_id,
            request=view,
            raw_headers=raw_headers,
            client_ip=client[0] if client else None,
            route=adapter.route(view),
        )
        if view.method in CACHEABLE_METHODS and (parsed is not None or not body):
            exchange.cache_key = cache_key(
                view.method,
                exchange.route.path,
                view.query,
                parsed,
                secret_query_params=adapter.secret_query_params,
                key_headers=[(h, headers[h]) for h in adapter.key_headers if h in headers],
            )
        await self._run(exchange, runtime, receive, send)

    async def _run(self, exchange: Exchange, runtime: ProxyRuntime, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        watcher = asyncio.create_task(_watch_disconnect(receive, exchange, task))
        ran: list[Stage] = []
        try:
            for stage in self.stages:
                ran.append(stage)
                await stage.before(exchange, runtime)
                if exchange.response is not None:
                    break
            if exchange.response is None:  # no stage answered: a pipeline without a forward stage
                reply = runtime.adapter.error(502, "bad_gateway", "Rubberduck: no stage answered")
                exchange.response = ProxyResponse(reply.status, reply.headers, body=reply.body)
            await _send_response(
                exchange,
                send,
                runtime.max_cached_response_bytes,
                lambda: self._complete(ran, exchange, runtime),
            )
        except asyncio.CancelledError:
            if not exchange.client_gone or task is None:
                raise
            task.uncancel()  # our own cancel: the client hung up, so nobody is waiting for an answer
        except Exception as exc:
            logger.exception("proxy %s failed a request", runtime.proxy_id)
            exchange.error = f"{type(exc).__name__}: {exc}"
            if exchange.first_byte is None:
                reply = runtime.adapter.error(500, "server_error", "Rubberduck hit an internal error.")
                exchange.response = ProxyResponse(reply.status, reply.headers, body=reply.body)
                await _send_response(exchange, send, 0, lambda: None)
        finally:
            watcher.cancel()
            exchange.finished = time.perf_counter()
        for stage in reversed(ran):
            try:
                await stage.after(exchange, runtime)
            except Exception:
                logger.exception("stage %s failed after a request", type(stage).__name__)
        self.log_sink.append(_log_row(exchange, runtime))

    @staticmethod
    def _complete(ran: list[Stage], exchange: Exchange, runtime: ProxyRuntime) -> None:
        exchange.body_complete = True
        for stage in reversed(ran):
            try:
                stage.complete(exchange, runtime)
            except Exception:
                logger.exception("stage %s failed to complete a request", type(stage).__name__)


async def _read_body(receive: Receive, limit: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        parts.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(parts)


def _parse_json(body: bytes, headers: dict[str, str]) -> tuple[Any, bool]:
    """(parsed body or None, ok). Non-JSON bodies (multipart, encoded) are fine, just not parsed."""
    if not body or headers.get("content-encoding"):
        return None, True
    content_type = headers.get("content-type", "")
    looks_json = "json" in content_type or (not content_type and body[:1] in (b"{", b"["))
    if not looks_json:
        return None, True
    try:
        return orjson.loads(body), True
    except orjson.JSONDecodeError:
        return None, False


async def _watch_disconnect(receive: Receive, exchange: Exchange, task: asyncio.Task[Any] | None) -> None:
    message = await receive()
    if message["type"] == "http.disconnect" and not exchange.body_complete:
        exchange.client_gone = True
        if task is not None:
            task.cancel()


async def _send_simple(send: Send, status: int, headers: RawHeaders, body: bytes, cache: bytes) -> None:
    extra = [(b"content-length", str(len(body)).encode()), (b"x-rubberduck-cache", cache)]
    await send({"type": "http.response.start", "status": status, "headers": headers + extra})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _send_response(
    exchange: Exchange, send: Send, capture_limit: int, on_complete: Callable[[], None]
) -> None:
    response = exchange.response
    assert response is not None
    cache_header = (b"x-rubberduck-cache", exchange.cache_status.encode())
    if response.stream is None:
        chunks = response.chunks if response.chunks is not None else (response.body,)
        headers = list(response.headers)
        if len(chunks) == 1 and not exchange.route.stream:
            headers.append((b"content-length", str(len(chunks[0])).encode()))
        await send(
            {"type": "http.response.start", "status": response.status, "headers": [*headers, cache_header]}
        )
        exchange.first_byte = time.perf_counter()
        for chunk in chunks[:-1]:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        on_complete()
        await send({"type": "http.response.body", "body": chunks[-1] if chunks else b"", "more_body": False})
        return
    await send(
        {
            "type": "http.response.start",
            "status": response.status,
            "headers": [*response.headers, cache_header],
        }
    )
    capture = exchange.store_in_cache
    try:
        async for chunk in response.stream:
            if exchange.first_byte is None:
                exchange.first_byte = time.perf_counter()
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            if capture:
                exchange.captured_bytes += len(chunk)
                if exchange.captured_bytes > capture_limit:
                    capture, exchange.capture_overflow = False, True
                    exchange.captured.clear()
                else:
                    exchange.captured.append(chunk)
    finally:
        close = getattr(response.stream, "aclose", None)
        if close is not None:
            await close()
    on_complete()
    await send({"type": "http.response.body", "body": b"", "more_body": False})


def _log_row(exchange: Exchange, runtime: ProxyRuntime) -> dict[str, Any]:
    response = exchange.response
    upstream_ms = None
    if exchange.upstream_started is not None and exchange.upstream_done is not None:
        upstream_ms = (exchange.upstream_done - exchange.upstream_started) * 1000.0
    return {
        "created_at": datetime.now(UTC),
        "proxy_id": runtime.proxy_id,
        "user_id": runtime.owner_id,
        "client_ip": exchange.client_ip,
        "method": exchange.request.method,
        "path": exchange.request.path,
        "operation": exchange.route.operation,
        "model": exchange.route.model,
        "stream": exchange.route.stream,
        "status": response.status if response is not None else 499,
        "latency_ms": exchange.ms_since_start(exchange.finished) or 0.0,
        "upstream_ms": upstream_ms,
        "ttfb_ms": exchange.ms_since_start(exchange.first_byte),
        "cache_status": exchange.cache_status,
        "cache_key": exchange.cache_key,
        "fault": exchange.fault,
        "error": exchange.error if not exchange.client_gone else "client disconnected",
    }
