"""What a proxy port lets one request hold, and how a request past a bound is refused (see http11.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rubberduck.types import RawHeaders

# A refused request whose request line was read: its method, path and client address (the app logs it
# like any other request).
RefusedLine = tuple[str, str, str | None]
# (status, message, the refused request if known) -> (status, headers, body) in the provider's format.
ErrorReply = Callable[[int, str, RefusedLine | None], tuple[int, RawHeaders, bytes]]


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """What one request may make a port hold; past each bound it is refused, and its connection closed."""

    max_head_bytes: int = 64 * 1024  # request line and headers: 431 past it
    max_body_bytes: int | None = None  # a declared Content-Length past it: 413 before reading the body
    body_idle_seconds: float = 30.0  # no body bytes for this long: 408
    body_total_seconds: float = 120.0  # the whole body not in within this (a trickle): 408


class RefusedRequest(Exception):
    """Raised from a parser callback to stop parsing: the request gets `status`, then the connection closes."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
