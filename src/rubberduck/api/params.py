"""Path and query parameters checked at the edge, so a value the database cannot hold is a 422, not a 500."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import AfterValidator

# `proxies.id` and every `proxy_id` column are INTEGER: 32-bit on Postgres, the tighter of the backends.
MAX_PROXY_ID = 2**31 - 1
# `request_logs.id` is BIGINT (64-bit), as are SQLite's integers.
MAX_ROW_ID = 2**63 - 1

ProxyId = Annotated[int, Path(ge=1, le=MAX_PROXY_ID, description="a proxy's id")]
ProxyIdFilter = Annotated[int | None, Query(ge=1, le=MAX_PROXY_ID, description="only this proxy's rows")]

# Recordings: a cache key is a SHA-256 in lowercase hex; a namespace is what the data plane accepts
# (`x-rubberduck-namespace` or `/_ns/<name>/`). The default namespace has no name: `namespace=` (empty)
# means it, and an omitted parameter means every namespace.
CACHE_KEY_PATTERN = r"^[0-9a-f]{64}$"
NAMESPACE_PATTERN = r"^[A-Za-z0-9._:-]{0,200}$"
MAX_OCCURRENCE = 2**31 - 1  # `cache_entries.occurrence` is INTEGER

CacheKey = Annotated[str, Path(pattern=CACHE_KEY_PATTERN, description="a request's cache key (64 hex)")]


def _not_a_parent(name: str | None) -> str | None:
    if name in (".", ".."):  # they would name a parent folder once recordings are files
        raise ValueError("a namespace cannot be '.' or '..'")
    return name


NamespaceFilter = Annotated[
    str | None,
    AfterValidator(_not_a_parent),
    Query(
        pattern=NAMESPACE_PATTERN,
        description="one namespace, empty for the default one (omitted: all of them)",
    ),
]
Occurrence = Annotated[int, Query(ge=1, le=MAX_OCCURRENCE, description="which occurrence of the request")]
OccurrenceFilter = Annotated[
    int | None, Query(ge=1, le=MAX_OCCURRENCE, description="one occurrence (omitted: every occurrence)")
]
