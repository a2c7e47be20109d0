"""One Exchange per proxied request: what came in, what went out, and what happened in between."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from rubberduck.providers.base import RequestView, Route
from rubberduck.providers.stream_end import StreamEnd
from rubberduck.types import RawHeaders


@dataclass(slots=True)
class ProxyResponse:
    status: int
    headers: RawHeaders
    # Exactly one of these carries the body; `chunks` replays a cached body chunk by chunk.
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None
    chunks: tuple[bytes, ...] | None = None
    # A cache hit's complete headers (x-rubberduck-cache and content-length included), sent as they are.
    ready_headers: RawHeaders | None = None
    # Recognises the provider's final event in an upstream stream: the answer is complete there.
    end: StreamEnd | None = None
    # `timing: recorded`: seconds from the request's start to each of `chunks`, as recorded.
    offsets: tuple[float, ...] | None = None


logger = logging.getLogger("rubberduck.proxy")


@dataclass(frozen=True, slots=True)
class StreamFault:
    truncate_after: int | None  # cut the stream after this many chunks (None: do not cut)
    chunk_delay_s: float  # pause before each chunk after the first


@dataclass(slots=True)
class Exchange:
    proxy_id: int
    request: RequestView
    raw_headers: RawHeaders
    client_ip: str | None
    route: Route
    started: float = field(default_factory=time.perf_counter)
    received_at: float = field(default_factory=time.time)  # wall clock, for the log row's time
    cache_key: str | None = None
    namespace: str = ""  # "" is the default namespace
    occurrence: int = 1  # `repeats: sequence`: which identical request of the namespace this is
    cache_status: str = "bypass"  # hit | miss | bypass
    store_in_cache: bool = False
    response: ProxyResponse | None = None
    fault: str | None = None  # which simulated fault fired, for the log
    stream_fault: StreamFault | None = None
    extra_headers: RawHeaders = field(default_factory=list)  # e.g. simulated remaining-quota headers
    error: str | None = None
    upstream_started: float | None = None
    upstream_done: float | None = None
    first_byte: float | None = None
    finished: float | None = None
    # Filled while the body streams out, so the cache can store what the client received.
    captured: list[bytes] = field(default_factory=list)
    # Seconds from `started` to each captured chunk (made by the first captured chunk: hits pay nothing).
    offsets: list[float] | None = None
    captured_bytes: int = 0
    capture_overflow: bool = False
    body_complete: bool = False
    client_gone: bool = False  # hung up before the answer was complete: an abandoned request
    # The provider's final event went out and the rest of the upstream body is still coming; a client
    # that hangs up now (as SDKs do at the final event) has its whole answer and ends the request quietly.
    draining: bool = False
    client_left: bool = False
    # Set by the rate-limit stage: corrects its token window with the real usage, which the log writer
    # reads off the request path (input + output tokens).
    charge_tokens: Callable[[int], None] | None = None
    # Callbacks stages register: run when the body is out (before the client is told), and after.
    on_complete: list[Callable[[], None]] = field(default_factory=list)
    after: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    receive: Any = None  # the ASGI receive callable, for disconnect watching
    watcher: asyncio.Task[None] | None = None

    def mark_complete(self) -> None:
        """The answer is complete, the client is not yet told: run the stages' on_complete hooks.

        For an upstream stream this is at the provider's final event, before that chunk goes out; when
        more bytes follow it before the body ends, the hooks run once more, over the whole body.
        """
        self.body_complete = True
        for callback in self.on_complete:
            try:
                callback()
            except Exception:
                logger.exception("a stage failed to complete a request")

    def watch_disconnect(self) -> None:
        """Before a wait that may be long (upstream, a held fault): notice if the client hangs up.

        Started only when needed, because a task per request costs cache hits a third of their speed.
        """
        if self.watcher is None and self.receive is not None:
            self.watcher = asyncio.create_task(_watch(self, asyncio.current_task()))

    def stop_watching(self) -> None:
        if self.watcher is not None:
            self.watcher.cancel()


async def _watch(exchange: Exchange, task: asyncio.Task[Any] | None) -> None:
    message = await exchange.receive()
    if message["type"] != "http.disconnect":
        return
    if not exchange.body_complete:
        exchange.client_gone = True
    elif exchange.draining:
        exchange.client_left = True  # after the final event: stop reading the upstream, no error
    else:
        return
    if task is not None:
        task.cancel()
