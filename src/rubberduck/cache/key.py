"""Cache keys: SHA-256 over everything in a request that can change the answer, and nothing else."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import parse_qsl

import orjson


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace: two requests that mean the same thing serialise the same."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def cache_key(
    method: str,
    path: str,
    query: str,
    body: Any,
    *,
    secret_query_params: frozenset[str] = frozenset(),
    key_headers: list[tuple[str, str]] | None = None,
    namespace: str = "",
) -> str:
    """Key over method, upstream path, the query (credentials dropped), key headers and the JSON body.

    `body` is the parsed JSON (or None for an empty body). Nothing is ever dropped from the body.
    The parts are hashed in one canonical JSON document, so no two different requests can collide
    by shifting text from one part into another. A namespace other than the default one is hashed
    with the rest (the default namespace keeps the key it always had, so older entries still answer);
    `body` comes with the proxy's `ignore` paths already left out.
    """
    params = (
        sorted(
            (name, value)
            for name, value in parse_qsl(query, keep_blank_values=True)
            if name not in secret_query_params
        )
        if query
        else ()
    )
    material: tuple[Any, ...] = (
        method.upper(),
        path,
        params,
        sorted(key_headers) if key_headers else (),
        body,
    )
    if namespace:
        material = ("ns", namespace, material)
    return hashlib.sha256(canonical_json(material)).hexdigest()
