"""One Exchange per proxied request: what came in, what went out, and what happened in between."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from rubberduck.cache.entry import CachedResponse
from rubberduck.providers.base import RequestView, Route, Usage
from rubberduck.types import RawHeaders


@dataclass(slots=True)
class ProxyResponse:
    status: int
    headers: RawHeaders
    # Exactly one of these carries the body; `chunks` replays a cached body chunk by chunk.
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None
    chunks: tuple[bytes, ...] | None = None


@dataclass(slots=True)
class Exchange:
    proxy_id: int
    request: RequestView
    raw_headers: RawHeaders
    client_ip: str | None
    route: Route
    started: float = field(default_factory=time.perf_counter)
    cache_key: str | None = None
    cache_status: str = "bypass"  # hit | miss | bypass
    store_in_cache: bool = False
    response: ProxyResponse | None = None
    fault: str | None = None
    error: str | None = None
    upstream_started: float | None = None
    upstream_done: float | None = None
    first_byte: float | None = None
    finished: float | None = None
    # Filled while the body streams out, so the cache can store what the client received.
    captured: list[bytes] = field(default_factory=list)
    captured_bytes: int = 0
    capture_overflow: bool = False
    body_complete: bool = False
    client_gone: bool = False
    usage: Usage | None = None
    cache_entry: CachedResponse | None = None  # what the cache stage decided to store

    def ms_since_start(self, moment: float | None) -> float | None:
        return None if moment is None else (moment - self.started) * 1000.0
