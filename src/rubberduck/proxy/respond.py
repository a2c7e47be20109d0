"""Writing an Exchange's response to the ASGI `send`, and the log row that describes it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from rubberduck.providers.stream_end import StreamEnd
from rubberduck.proxy.exchange import Exchange, ProxyResponse, StreamFault
from rubberduck.proxy.runtime import ProxyRuntime
from rubberduck.telemetry.enrich import ResponseBody
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
) -> None:
    """Send a local answer (body or cached chunks) or forward an upstream stream chunk by chunk.

    `exchange.mark_complete()` runs once the whole body went out but before the final message, so
    whatever it makes visible (a cache entry) is there before the client can ask again.
    """
    fault = exchange.stream_fault if exchange.route.stream else None
    if response.ready_headers is not None and fault is None and not exchange.extra_headers:
        await _send_ready(exchange, response, response.ready_headers, send)
        return
    headers = response.headers
    if exchange.extra_headers:  # simulated quota headers replace the recorded ones of the same name
        replaced = {name for name, _ in exchange.extra_headers}
        headers = [header for header in headers if header[0] not in replaced] + exchange.extra_headers
    headers = [*headers, (b"x-rubberduck-cache", exchange.cache_status.encode())]
    if exchange.cache_key is not None:
        headers.append((b"x-rubberduck-cache-key", exchange.cache_key.encode()))
    if response.stream is None:
        chunks = response.chunks if response.chunks is not None else (response.body,)
        if len(chunks) == 1 and not exchange.route.stream:
            headers.append((b"content-length", str(len(chunks[0])).encode()))
        if response.offsets is not None and len(response.offsets) == len(chunks):
            await _wait_until(exchange.started + response.offsets[0])  # the first byte as recorded
            await send({"type": "http.response.start", "status": response.status, "headers": headers})
            await _pump(exchange, _paced(chunks, response.offsets), send, capture_limit, fault)
            return
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        exchange.first_byte = time.perf_counter()
        if fault is None:  # the cache-hit fast path
            for chunk in chunks[:-1]:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            exchange.mark_complete()
            await send(
                {"type": "http.response.body", "body": chunks[-1] if chunks else b"", "more_body": False}
            )
            return
        await _pump(exchange, _replay(chunks), send, capture_limit, fault)
        return
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    end = response.end if 200 <= response.status < 300 else None
    await _pump(exchange, response.stream, send, capture_limit, fault, end)


async def _send_ready(exchange: Exchange, response: ProxyResponse, headers: RawHeaders, send: Send) -> None:
    """The cache-hit fast path: headers worked out when the entry was stored, chunks as stored."""
    chunks = response.chunks or (b"",)
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    exchange.first_byte = time.perf_counter()
    for chunk in chunks[:-1]:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    exchange.mark_complete()
    await send({"type": "http.response.body", "body": chunks[-1], "more_body": False})


async def _replay(chunks: tuple[bytes, ...]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def _paced(chunks: tuple[bytes, ...], offsets: tuple[float, ...]) -> AsyncIterator[bytes]:
    """Each chunk after the recorded gap since the one before it (`timing: recorded`).

    Gaps are waited out after the previous chunk went out, so a stream fault's chunk delay adds on top.
    """
    previous = offsets[0]
    for chunk, offset in zip(chunks, offsets, strict=True):
        if offset > previous:
            await asyncio.sleep(offset - previous)
        previous = max(previous, offset)
        yield chunk


async def _wait_until(moment: float) -> None:
    delay = moment - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)


async def _pump(
    exchange: Exchange,
    source: AsyncIterator[bytes],
    send: Send,
    capture_limit: int,
    fault: StreamFault | None,
    end: StreamEnd | None = None,
) -> None:
    """Forward `source` chunk by chunk, capturing it for the cache and the log.

    The answer is complete at the provider's final event (`end` recognises it) or at the end of the
    body, whichever comes first: `mark_complete()` runs then, before the client can see the chunk.
    """
    capture = True  # the cache stores it, the log writer reads its usage
    offsets: list[float] = []
    exchange.offsets = offsets
    sent = 0
    completed_at = -1  # captured bytes when the final event went through
    try:
        async for chunk in source:
            if fault is not None:
                if fault.truncate_after is not None and sent >= fault.truncate_after:
                    # Cut like a dropped connection: no final chunk, so the SDK sees a broken stream.
                    exchange.fault = "truncate"
                    return
                if fault.chunk_delay_s and sent:
                    await asyncio.sleep(fault.chunk_delay_s)
            if exchange.first_byte is None:
                exchange.first_byte = time.perf_counter()
            if capture:
                exchange.captured_bytes += len(chunk)
                if exchange.captured_bytes > capture_limit:
                    capture, exchange.capture_overflow = False, True
                    exchange.captured.clear()
                else:
                    exchange.captured.append(chunk)
                    offsets.append(time.perf_counter() - exchange.started)  # `timing: recorded` replays it
            if end is not None and end.feed(chunk):
                end = None
                exchange.mark_complete()
                completed_at = exchange.captured_bytes
                exchange.draining = True
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            sent += 1
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if not exchange.client_left or task is None:
            raise
        task.uncancel()  # the client hung up after the final event: it has its answer
        return
    finally:
        exchange.draining = False
        close = getattr(source, "aclose", None)
        if close is not None:
            await close()
    if completed_at != exchange.captured_bytes:  # not complete yet, or more came after the final event
        exchange.mark_complete()
    await send({"type": "http.response.body", "body": b"", "more_body": False})


def log_row(exchange: Exchange, runtime: ProxyRuntime) -> dict[str, Any]:
    """Metadata only: never a body, a header value or a query string (which may hold a key).

    `_body` hands the response bytes to the log writer, which reads token usage from them and drops
    them; they are never stored.
    """
    response = exchange.response
    status = response.status if response is not None else 499
    route = exchange.route
    body: ResponseBody | None = None
    if response is not None and 200 <= status < 300:
        chunks = response.chunks if response.chunks is not None else exchange.captured
        if chunks and not exchange.capture_overflow:
            body = ResponseBody(
                runtime.adapter, chunks, route.stream, response.headers, exchange.charge_tokens
            )
    started, first_byte = exchange.started, exchange.first_byte
    upstream_ms = None
    if exchange.upstream_started is not None and exchange.upstream_done is not None:
        upstream_ms = (exchange.upstream_done - exchange.upstream_started) * 1000.0
    return {
        "created_at": exchange.received_at,  # epoch seconds; the writer makes it a datetime off the hot path
        "proxy_id": runtime.proxy_id,
        "user_id": runtime.owner_id,
        "client_ip": exchange.client_ip,
        "method": exchange.request.method,
        "path": exchange.request.path,
        "operation": route.operation,
        "model": route.model,
        "stream": route.stream,
        "status": status,
        "latency_ms": ((exchange.finished or started) - started) * 1000.0,
        "upstream_ms": upstream_ms,
        "ttfb_ms": None if first_byte is None else (first_byte - started) * 1000.0,
        "cache_status": exchange.cache_status,
        "cache_key": exchange.cache_key,
        "fault": exchange.fault,
        "error": "client disconnected" if exchange.client_gone else exchange.error,
        "_body": body,
    }
