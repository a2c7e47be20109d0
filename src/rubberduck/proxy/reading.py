"""Reading a request once: its parsed body, its route and its cache key, remembered by its bytes.

Test suites and SDK retries send byte-identical requests over and over: for those the JSON parse,
the route and the SHA-256 are looked up instead of worked out again. A parsed body is never changed
after parsing (adapters build upstream bodies from the raw bytes), so requests may share it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from rubberduck.cache.key import cache_key
from rubberduck.cache.paths import IgnoreRules
from rubberduck.providers.base import ProviderAdapter, RequestView, Route

CACHEABLE_METHODS = frozenset({"GET", "POST"})
MEMO_BYTES = 4 * 1024 * 1024  # request bytes the memo may hold before it starts over
MEMO_MAX_BODY = 64 * 1024  # larger bodies are read every time: rarely repeated, costly to hold


@dataclass(frozen=True, slots=True)
class Reading:
    json_ok: bool  # False: the body claims to be JSON and is not
    parsed: Any  # the JSON body, or None
    route: Route  # a template: each request gets its own copy, which stages may change
    cache_key: str | None  # None: not cacheable (method, or a body that is not JSON)

    def route_copy(self) -> Route:
        route = self.route
        return Route(route.path, route.operation, route.model, route.stream)


class RequestReader:
    """One per proxy, built anew when its provider or its `ignore` paths change (the memo holds keys)."""

    def __init__(self, adapter: ProviderAdapter, ignore: tuple[str, ...] = ()) -> None:
        self.adapter = adapter
        self.ignore = ignore
        self.rules = IgnoreRules(ignore)  # left out of the key only: the parsed body is kept whole
        self._memo: dict[tuple[Any, ...], Reading] = {}
        self._memo_bytes = 0
        self._headers = ("content-type", "content-encoding", *adapter.key_headers)

    @property
    def remembered_bytes(self) -> int:
        return self._memo_bytes

    def read(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes, namespace: str = ""
    ) -> Reading:
        if len(body) > MEMO_MAX_BODY:
            return self._read(method, path, query, headers, body, namespace)
        memo_key = (method, path, query, body, namespace, *[headers.get(name) for name in self._headers])
        reading = self._memo.get(memo_key)
        if reading is None:
            reading = self._read(method, path, query, headers, body, namespace)
            size = len(body) + len(path) + len(query)
            if self._memo_bytes + size > MEMO_BYTES:
                self._memo.clear()
                self._memo_bytes = 0
            self._memo[memo_key] = reading
            self._memo_bytes += size
        return reading

    def _read(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes, namespace: str
    ) -> Reading:
        parsed, json_ok = parse_json(body, headers)
        adapter = self.adapter
        route = adapter.route(RequestView(method, path, query, headers, body, parsed))
        key = None
        if json_ok and method in CACHEABLE_METHODS and (parsed is not None or not body):
            key_headers = [(name, headers[name]) for name in adapter.key_headers if name in headers]
            key = cache_key(
                method,
                route.path,
                query,
                self.rules.apply(parsed),
                secret_query_params=adapter.secret_query_params,
                key_headers=key_headers,
                namespace=namespace,
            )
        return Reading(json_ok, parsed, route, key)


def parse_json(body: bytes, headers: dict[str, str]) -> tuple[Any, bool]:
    """(parsed body or None, ok). Non-JSON bodies (multipart, encoded) are fine, just not parsed."""
    if not body or "content-encoding" in headers:
        return None, True
    content_type = headers.get("content-type", "")
    if not ("json" in content_type or (not content_type and body[:1] in (b"{", b"["))):
        return None, True
    try:
        return orjson.loads(body), True
    except orjson.JSONDecodeError:
        return None, False
