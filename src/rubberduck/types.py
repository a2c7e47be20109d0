"""Type aliases shared across the data plane."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

RawHeaders = list[tuple[bytes, bytes]]
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
