"""What a recording keeps of its request, and the explanation a replay miss answers with.

The canonical request is what an entry answered: `{"method", "path", "query": [[name, value], ...],
"headers": {key headers}, "body": JSON as sent}`. Credentials never enter it: only the adapter's key headers
are kept (no auth header), and its secret query parameters are dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from rubberduck.cache.diff import describe, nearest, paths_only
from rubberduck.cache.entry import CachedResponse
from rubberduck.cache.paths import IgnoreRules
from rubberduck.cache.store import LayeredCache
from rubberduck.providers.base import ProviderAdapter
from rubberduck.proxy.exchange import Exchange
from rubberduck.proxy.runtime import ProxyRuntime

PREFIX = "replay_miss"


def canonical_request(exchange: Exchange, adapter: ProviderAdapter) -> dict[str, Any]:
    request = exchange.request
    secret = adapter.secret_query_params
    query = (
        [
            [name, value]
            for name, value in parse_qsl(request.query, keep_blank_values=True)
            if name not in secret
        ]
        if request.query
        else []
    )
    headers = {name: request.headers[name] for name in adapter.key_headers if name in request.headers}
    return {
        "method": request.method,
        "path": exchange.route.path,
        "query": query,
        "headers": headers,
        "body": request.json,
    }


def _namespace(name: str) -> str:
    return f"namespace {name!r}" if name else "the default namespace"


async def explain_replay_miss(
    cache: LayeredCache, exchange: Exchange, runtime: ProxyRuntime
) -> tuple[str, str]:
    """(the client's error message, the log row's error): the log gets the differing paths, never values."""
    key = exchange.cache_key or ""
    proxy_id, namespace = runtime.proxy_id, exchange.namespace
    rules = IgnoreRules(runtime.cache.ignore)

    def comparable(request: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
        # Ignored fields are not why a request missed: leave them out of the comparison, on both sides.
        if request is None or not rules:
            return request
        return {**request, "body": rules.apply(request.get("body"))}

    sent = comparable(canonical_request(exchange, runtime.adapter))
    assert sent is not None
    where = f"key {key}, {_namespace(namespace)}"
    sequence = runtime.cache.repeats == "sequence"
    recorded = 0
    if sequence:
        recorded = await cache.recorded_occurrences(proxy_id, key)
        where += f", occurrence {exchange.occurrence}; {recorded} recorded"
    lines = [
        f"Rubberduck {PREFIX}: this request is not recorded ({where}), and replay mode never calls the upstream."
    ]
    candidates: list[CachedResponse] = await cache.candidates(proxy_id, namespace, exchange.route.operation)
    found = nearest(sent, candidates, lambda entry: comparable(entry.request))
    log_error = PREFIX
    if found is None:
        operation = exchange.route.operation or "this path"
        lines.append(f"Nothing is recorded for {operation} in {_namespace(namespace)} to compare it with.")
    else:
        entry, diff = found
        name = f"key {entry.key}, occurrence {entry.occurrence}"
        # The log may name the nearest entry (a key is a hash, not a value), so the UI can link to it.
        nearest_entry = f" (nearest {entry.key}#{entry.occurrence})"
        log_error = PREFIX + nearest_entry
        if diff.total == 0:
            reason = (
                f": only {recorded} occurrence{'s' if recorded != 1 else ''} of it were recorded "
                f"(rewind with POST /api/proxies/{proxy_id}/cache/rewind, or record more)"
                if sequence and entry.key == key and exchange.occurrence > recorded
                else ""
            )
            lines.append(f"The nearest recorded request ({name}) matches it in every field{reason}.")
        else:
            count = f"{diff.total} field{'s' if diff.total != 1 else ''}"
            lines.append(f"The nearest recorded request ({name}) differs in {count}:")
            lines.append(describe(diff.differences, diff.total))
            log_error = f"{PREFIX}: {paths_only(diff.differences, diff.total)}{nearest_entry}"
    return "\n".join(lines), log_error
