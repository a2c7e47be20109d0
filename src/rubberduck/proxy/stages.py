"""Pipeline stages. Each may answer the request in `before`; `after` runs once the body went out."""

from __future__ import annotations

import time
from typing import Protocol

from rubberduck.cache.entry import CachedResponse
from rubberduck.cache.store import LayeredCache
from rubberduck.proxy.exchange import Exchange, ProxyResponse
from rubberduck.proxy.headers import cacheable_headers, client_response_headers, upstream_request_headers
from rubberduck.proxy.runtime import ProxyRuntime
from rubberduck.proxy.upstream import UpstreamClient, UpstreamError


class Stage(Protocol):
    async def before(self, exchange: Exchange, runtime: ProxyRuntime) -> None: ...

    def complete(self, exchange: Exchange, runtime: ProxyRuntime) -> None:
        """The whole body went out but the client has not been told yet: make results visible now."""

    async def after(self, exchange: Exchange, runtime: ProxyRuntime) -> None: ...


class CacheStage:
    """Answers from the cache on a hit; stores a complete 2xx answer on a miss."""

    def __init__(self, cache: LayeredCache) -> None:
        self.cache = cache

    async def before(self, exchange: Exchange, runtime: ProxyRuntime) -> None:
        if exchange.cache_key is None:
            return
        control = exchange.request.headers
        bypass = control.get("x-rubberduck-cache", "").lower() == "bypass"
        cache_control = control.get("cache-control", "").lower()
        # no-cache: skip the lookup but refresh the entry; bypass and no-store: leave the cache alone.
        exchange.store_in_cache = not bypass and "no-store" not in cache_control
        if bypass or "no-cache" in cache_control:
            exchange.cache_status = "bypass"
            return
        entry = await self.cache.get(runtime.proxy_id, exchange.cache_key)
        if entry is None:
            exchange.cache_status = "miss"
            return
        exchange.cache_status = "hit"
        exchange.store_in_cache = False
        exchange.response = ProxyResponse(entry.status, list(entry.headers), chunks=entry.chunks)
        exchange.route.stream = entry.stream or exchange.route.stream

    def complete(self, exchange: Exchange, runtime: ProxyRuntime) -> None:
        # Runs before the last body message, so a client that asks again at once gets a hit.
        response = exchange.response
        if (
            not exchange.store_in_cache
            or exchange.cache_key is None
            or response is None
            or response.stream is None  # only upstream answers are stored, never simulated ones
            or not 200 <= response.status < 300
            or not exchange.body_complete
            or exchange.client_gone
            or exchange.capture_overflow
        ):
            return
        chunks = tuple(exchange.captured) if exchange.route.stream else (b"".join(exchange.captured),)
        entry = CachedResponse(
            response.status, cacheable_headers(response.headers), chunks, exchange.route.stream
        )
        self.cache.remember(runtime.proxy_id, exchange.cache_key, entry)
        exchange.cache_entry = entry

    async def after(self, exchange: Exchange, runtime: ProxyRuntime) -> None:
        if exchange.cache_entry is not None and exchange.cache_key is not None:
            await self.cache.persist(runtime.proxy_id, exchange.cache_key, exchange.cache_entry)


class ForwardStage:
    """Sends the request upstream and hands its body back as a stream, chunk by chunk."""

    def __init__(self, client: UpstreamClient) -> None:
        self.client = client

    async def before(self, exchange: Exchange, runtime: ProxyRuntime) -> None:
        adapter = runtime.adapter
        headers = upstream_request_headers(exchange.raw_headers)
        try:
            upstream = adapter.prepare_upstream(
                exchange.request, exchange.route, runtime.upstream_url, headers
            )
        except ValueError as exc:
            reply = adapter.error(502, "bad_gateway", str(exc))
            exchange.error = str(exc)
            exchange.response = ProxyResponse(reply.status, reply.headers, body=reply.body)
            return
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
            answer.status, client_response_headers(answer.headers), stream=answer.body
        )

    def complete(self, exchange: Exchange, runtime: ProxyRuntime) -> None:
        return None

    async def after(self, exchange: Exchange, runtime: ProxyRuntime) -> None:
        return None
