"""Path and query parameters checked at the edge, so a value the database cannot hold is a 422, not a 500."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

# `proxies.id` and every `proxy_id` column are INTEGER: 32-bit on Postgres, the tighter of the backends.
MAX_PROXY_ID = 2**31 - 1
# `request_logs.id` is BIGINT (64-bit), as are SQLite's integers.
MAX_ROW_ID = 2**63 - 1

ProxyId = Annotated[int, Path(ge=1, le=MAX_PROXY_ID, description="a proxy's id")]
ProxyIdFilter = Annotated[int | None, Query(ge=1, le=MAX_PROXY_ID, description="only this proxy's rows")]
