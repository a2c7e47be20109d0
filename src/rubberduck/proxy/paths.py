"""Request paths a proxy refuses before any adapter sees them (400 in the provider's format).

- Control characters (NUL included) after decoding: no provider path holds one, and an HTTP client
  refuses to send them, which used to surface as a 500.
- Dot segments that climb above the root (`/v1/../../admin`, `%2e%2e`, `..%2F`, `..\\`): forwarded, they
  would reach outside the upstream_url's path prefix (`http://host/tenant-a/api`).

The server hands over the path decoded once. Some adapters decode a segment once more (Bedrock's
model ids) and an upstream server may too, so each further decoding is checked as well.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SEPARATORS = re.compile(r"[/\\]")  # a backslash is a separator to WHATWG parsers and to some servers
_DECODINGS = 3  # `%25252e` is as far as anyone plausibly goes; a path that decodes further is refused

CONTROL_MESSAGE = "The request path contains control characters, which no API path holds."
CLIMB_MESSAGE = "The request path climbs above the root with '..' segments."
ENCODED_MESSAGE = "The request path is percent-encoded too many times over."


def path_problem(path: str) -> str | None:
    """Why `path` (decoded once, as in the ASGI scope) may not be forwarded; None when it may."""
    for _ in range(_DECODINGS):
        if _CONTROL.search(path):
            return CONTROL_MESSAGE
        if "." in path and _climbs(path):
            return CLIMB_MESSAGE
        if "%" not in path:
            return None
        decoded = unquote(path)
        if decoded == path:
            return None
        path = decoded
    return ENCODED_MESSAGE if unquote(path) != path else None


def _climbs(path: str) -> bool:
    """Whether the dot segments take the path above its first segment's parent.

    Empty segments count for nothing (some servers merge `//`), which can only refuse more, never less.
    """
    depth = 0
    for segment in _SEPARATORS.split(path):
        if segment == "..":
            depth -= 1
            if depth < 0:
                return True
        elif segment not in ("", "."):
            depth += 1
    return False
