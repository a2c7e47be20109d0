"""The configuration a running proxy instance reads: pushed on change, never re-read per request."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from rubberduck.cache.config import DEFAULT_CACHE, CacheConfig
from rubberduck.faults.state import FaultState
from rubberduck.providers.base import ProviderAdapter


@dataclass(frozen=True, slots=True)
class ProxyRuntime:
    proxy_id: int
    owner_id: uuid.UUID
    adapter: ProviderAdapter
    upstream_url: str | None
    upstream_timeout: float
    max_request_bytes: int
    max_cached_response_bytes: int
    faults: FaultState  # mutable dice and windows: kept when only other settings change
    options: dict[str, Any] = field(default_factory=dict)
    cache: CacheConfig = DEFAULT_CACHE  # how it records and replays
