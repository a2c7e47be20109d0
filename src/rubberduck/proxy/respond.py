"""Writing an Exchange's response to the ASGI `send`, and the log row that describes it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rubberduck.proxy.exchange import Exchange, ProxyResponse
from rubberduck.proxy.runtime import ProxyRuntime
from rubberduck.types import RawHeaders, Send


async def send_simple(send: Send, status: int, headers: RawHeaders, body: bytes, cache: bytes) -> None:
    extra = [(b"content-length", str(len(body)).encode()), (b"x-rubberduck-cache", cache)]
    await send({"type": "http.response.start", "status": status, "headers": headers + extra})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def send_response(
    exchange: Exchange,
    response: ProxyResponse,
    send: Send,
    capture_limit: int,
    on_complete: Callable[[], None],
) -> None:
    """Send a local answer (body or cached chunks) or forward an upstream stream chunk by chunk.

    `on_complete` runs once the whole body went out but before the final message, so whatever it
    makes visible (a cache entry) is there before the client can ask again.
    """
    cache_header = (b"x-rubberduck-cache", exchange.cache_status.encode())
    if response.stream is None:
        chunks = response.chunks if response.chunks is not None else (response.body,)
        headers = [*response.headers, cache_header]
        if len(chunks) == 1 and not exchange.route.stream:
            headers.append((b"content-length", str(len(chunks[0])).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
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


def log_row(exchange: Exchange, runtime: ProxyRuntime) -> dict[str, Any]:
    """Metadata only: never a body, a header value or a query string (which may hold a key)."""
    response = exchange.response
    upstream_ms = None
    if exchange.upstream_started is not None and exchange.upstream_done is not None:
        upstream_ms = (exchange.upstream_done - exchange.upstream_started) * 1000.0
    return {
        "created_at": time.time(),  # epoch seconds; the writer turns it into a datetime off the hot path
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
        "error": "client disconnected" if exchange.client_gone else exchange.error,
    }
