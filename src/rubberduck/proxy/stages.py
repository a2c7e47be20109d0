"""Pipeline stages. Each may answer the request in `before`; `after` runs once the body went out."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from rubberduck.cache.entry import CachedResponse
from rubberduck.cache.freshness import storage_policy
from rubberduck.cache.occurrence import OccurrenceCounter
from rubberduck.cache.store import LayeredCache
from rubberduck.providers.base import REPLAY_MISS, UpstreamSetupError
from rubberduck.providers.usage import decode_body
from rubberduck.proxy.exchange import Exchange, ProxyResponse
from rubberduck.proxy.headers import cacheable_headers, client_response_headers, upstream_request_headers
from rubberduck.proxy.recording import canonical_request, explain_replay_miss
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
    """Answers from the cache on a hit; stores a complete 2xx answer on a miss; in `replay` mode a miss is a
    `replay_miss` error and the upstream is never contacted.
    """

    def __init__(self, cache: LayeredCache, occurrences: OccurrenceCounter) -> None:
        self.cache = cache
        self.occurrences = occurrences

    def idle(self, runtime: ProxyRuntime) -> bool:
        return False

    async def before(self, exchange: Exchange, runtime: ProxyRuntime) -> None:
        key = exchange.cache_key
        if key is None:  # not recordable (method, a body that is not JSON): replay still never forwards it
            if runtime.cache.mode == "replay":
                message = (
                    f"Rubberduck {REPLAY_MISS}: a {exchange.request.method} request with this body is never "
                    "recorded (only GET and POST requests with a JSON or empty body are), and replay mode never "
                    "calls the upstream."
                )
                self._answer_miss(exchange, runtime, message, REPLAY_MISS)
            return
        config = runtime.cache
        mode = config.mode
        if mode == "record":  # the client's Cache-Control and x-rubberduck-cache count here only
            lookup, exchange.store_in_cache = cache_controls(exchange.request.headers)
        elif mode == "off":
            return  # cache_status stays "bypass"
        else:
            lookup, exchange.store_in_cache = mode == "replay", mode == "refresh"
        proxy_id = runtime.proxy_id
        occurrence = 1
        if config.repeats == "sequence":
            occurrence = exchange.occurrence = await self.occurrences.next(proxy_id, exchange.namespace, key)
        generation = self.cache.generation(proxy_id)  # a clear after this wins over our write
        if lookup:
            entry = self.cache.peek(proxy_id, key, occurrence) or await self.cache.get(
                proxy_id, key, occurrence
            )
            # An expired entry is a miss when recording, and still replayed offline.
            if entry is not None and (
                entry.expires_at is None or mode == "replay" or not entry.expired(time.time())
            ):
                self._hit(exchange, runtime, entry)
                return
        if mode == "replay":
            await self._replay_miss(exchange, runtime)
            return
        exchange.cache_status = "miss" if lookup or mode == "refresh" else "bypass"
        if exchange.store_in_cache:
            exchange.on_complete.append(lambda: self._remember(exchange, runtime, generation))

    def _hit(self, exchange: Exchange, runtime: ProxyRuntime, entry: CachedResponse) -> None:
        exchange.cache_status = "hit"
        exchange.store_in_cache = False
        self.cache.touch(runtime.proxy_id, entry)
        offsets = entry.offsets if runtime.cache.timing == "recorded" else None
        # The entry's ready headers fit unless a stream request met a stored plain answer, or the answer is
        # paced as recorded.
        ready = entry.hit_headers if (entry.stream or not exchange.route.stream) and offsets is None else None
        exchange.response = ProxyResponse(
            entry.status, entry.headers, chunks=entry.chunks, ready_headers=ready, offsets=offsets
        )
        exchange.route.stream = entry.stream or exchange.route.stream

    async def _replay_miss(self, exchange: Exchange, runtime: ProxyRuntime) -> None:
        message, log_error = await explain_replay_miss(self.cache, exchange, runtime)
        self._answer_miss(exchange, runtime, message, log_error)

    @staticmethod
    def _answer_miss(exchange: Exchange, runtime: ProxyRuntime, message: str, log_error: str) -> None:
        """A 404 in the provider's format (no SDK retries it); the log row gets paths only, never values."""
        exchange.cache_status = "miss"
        exchange.error = log_error
        reply = runtime.adapter.error(404, REPLAY_MISS, message)
        exchange.response = ProxyResponse(reply.status, reply.headers, body=reply.body)

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
        now = time.time()
        store, expires_at = storage_policy(response.headers, runtime.cache.ttl_seconds, now)
        if not store:  # the upstream said no-store or private
            return
        offsets = exchange.offsets or []
        if exchange.route.stream:
            chunks = tuple(exchange.captured)
            paced = tuple(offsets) if len(offsets) == len(chunks) else None
        else:  # one body, replayed when the upstream's was complete
            chunks = (b"".join(exchange.captured),)
            paced = (offsets[-1],) if offsets else None
        route = exchange.route
        entry = CachedResponse(
            response.status,
            cacheable_headers(response.headers),
            chunks,
            route.stream,
            key=key,
            namespace=exchange.namespace,
            occurrence=exchange.occurrence,
            operation=route.operation,
            model=route.model,
            request=canonical_request(exchange, runtime.adapter),
            ignored=runtime.cache.ignore,
            offsets=paced,
            expires_at=expires_at,
            created_at=now,
        )
        self.cache.remember(runtime.proxy_id, entry, generation)
        # Written after the client has its answer; the memory copy already serves repeats.
        exchange.after.append(
            lambda: self.cache.persist(runtime.proxy_id, entry, generation, remembered=True)
        )


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
