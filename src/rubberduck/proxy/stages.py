"""Pipeline stages. Each may answer the request in `before`; `after` runs once the body went out."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from rubberduck.cache.entry import CachedResponse
from rubberduck.cache.occurrence import OccurrenceCounter
from rubberduck.cache.store import LayeredCache
from rubberduck.providers.base import UpstreamSetupError
from rubberduck.providers.usage import decode_body
from rubberduck.proxy.exchange import Exchange, ProxyResponse
from rubberduck.proxy.headers import cacheable_headers, client_response_headers, upstream_request_headers
from rubberduck.proxy.runtime import ProxyRuntime
from rubberduck.proxy.upstream import UpstreamClient, UpstreamError


class Stage(Protocol):
    """A stage may answer in `before` (set exchange.response); the rest are then skipped.

    A stage that needs to act later registers callbacks on the exchange: `on_complete` (the body went
    out, the client is not yet told) and `after` (the client has its answer). Cache hits register
    nothing, so they pay for no extra awaits.
    """

    def idle(self, runtime: ProxyRuntime) -> bool:
        """True when `before` would do nothing for any request under this runtime (then it is skipped)."""
        ...

    async def before(self, exchange: Exchange, runtime: ProxyRuntime) -> None: ...


class CacheStage:
    """Answers from the cache on a hit; stores a complete 2xx answer on a miss."""

    def __init__(self, cache: LayeredCache, occurrences: OccurrenceCounter) -> None:
        self.cache = cache
        self.occurrences = occurrences

    def idle(self, runtime: ProxyRuntime) -> bool:
        return False

    async def before(self, exchange: Exchange, runtime: ProxyRuntime) -> None:
        key = exchange.cache_key
        if key is None:
            return
        lookup, exchange.store_in_cache = cache_controls(exchange.request.headers)
        generation = self.cache.generation(runtime.proxy_id)  # a clear after this wins over our write
        if lookup:
            entry = self.cache.peek(runtime.proxy_id, key) or await self.cache.get(runtime.proxy_id, key)
            if entry is not None:
                exchange.cache_status = "hit"
                exchange.store_in_cache = False
                # The entry's ready headers fit unless a stream request met a stored plain answer.
                ready = entry.hit_headers if entry.stream or not exchange.route.stream else None
                exchange.response = ProxyResponse(
                    entry.status, entry.headers, chunks=entry.chunks, ready_headers=ready
                )
                exchange.route.stream = entry.stream or exchange.route.stream
                return
        exchange.cache_status = "miss" if lookup else "bypass"
        if exchange.store_in_cache:
            exchange.on_complete.append(lambda: self._remember(exchange, runtime, generation))

    def _remember(self, exchange: Exchange, runtime: ProxyRuntime, generation: int) -> None:
        # Runs before the last body message, so a client that asks again at once gets a hit.
        response = exchange.response
        if (
            exchange.cache_key is None
            or response is None
            or response.stream is None  # only upstream answers are stored, never simulated ones
            or not 200 <= response.status < 300
            or not exchange.body_complete
            or exchange.client_gone
            or exchange.capture_overflow
        ):
            return
        key = exchange.cache_key
        if exchange.route.stream and _stream_failed(runtime, response.headers, exchange.captured):
            return
        chunks = tuple(exchange.captured) if exchange.route.stream else (b"".join(exchange.captured),)
        entry = CachedResponse(
            response.status, cacheable_headers(response.headers), chunks, exchange.route.stream, key=key
        )
        self.cache.remember(runtime.proxy_id, entry, generation)
        # Written after the client has its answer; the memory copy already serves repeats.
        exchange.after.append(lambda: self.cache.persist(runtime.proxy_id, entry, generation))


def _stream_failed(runtime: ProxyRuntime, headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> bool:
    """A 200 stream that ended in the provider's error event is a failure: never replay it."""
    encoding = next((v.decode("latin-1") for n, v in headers if n == b"content-encoding"), None)
    return runtime.adapter.stream_failed(decode_body(b"".join(chunks), encoding))


def cache_controls(headers: dict[str, str]) -> tuple[bool, bool]:
    """(look up, store) as the client asked.

    `Cache-Control: no-cache` skips the lookup but refreshes the entry; `x-rubberduck-cache: bypass`
    and `Cache-Control: no-store` leave the cache alone entirely.
    """
    if "x-rubberduck-cache" not in headers and "cache-control" not in headers:
        return True, True
    bypass = headers.get("x-rubberduck-cache", "").lower() == "bypass"
    cache_control = headers.get("cache-control", "").lower()
    return not bypass and "no-cache" not in cache_control, not bypass and "no-store" not in cache_control


class ForwardStage:
    """Sends the request upstream and hands its body back as a stream, chunk by chunk."""

    def __init__(self, client: UpstreamClient) -> None:
        self.client = client

    def idle(self, runtime: ProxyRuntime) -> bool:
        return False

    async def before(self, exchange: Exchange, runtime: ProxyRuntime) -> None:
        adapter = runtime.adapter
        headers = upstream_request_headers(exchange.raw_headers)
        prepare = adapter.prepare_upstream
        arguments = (exchange.request, exchange.route, runtime.upstream_url, headers, runtime.options)
        try:
            if adapter.prepares_in_thread:
                upstream = await asyncio.to_thread(prepare, *arguments)
            else:
                upstream = prepare(*arguments)
        except UpstreamSetupError as exc:
            reply = adapter.error(exc.status, exc.kind, exc.message)
            exchange.error = exc.message
            exchange.response = ProxyResponse(reply.status, reply.headers, body=reply.body)
            return
        except ValueError as exc:
            reply = adapter.error(502, "bad_gateway", str(exc))
            exchange.error = str(exc)
            exchange.response = ProxyResponse(reply.status, reply.headers, body=reply.body)
            return
        exchange.watch_disconnect()
        exchange.upstream_started = time.perf_counter()
        try:
            answer = await self.client.send(
                exchange.request.method,
                upstream.url,
                upstream.headers,
                upstream.body,
                runtime.upstream_timeout,
            )
        except UpstreamError as exc:
            status, kind = (504, "timeout") if exc.kind == "timeout" else (502, "bad_gateway")
            reply = adapter.error(status, kind, f"Rubberduck: {exc}")
            exchange.error = str(exc)
            exchange.response = ProxyResponse(reply.status, reply.headers, body=reply.body)
            return
        exchange.upstream_done = time.perf_counter()
        exchange.response = ProxyResponse(
            answer.status,
            client_response_headers(answer.headers),
            stream=answer.body,
            end=adapter.stream_end(exchange.route, answer.headers),  # complete at the final event
        )
