"""Header rules at the proxy's two edges."""

from __future__ import annotations

from rubberduck.types import RawHeaders

# Per-connection headers (RFC 9110 §7.6.1): never forwarded in either direction.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
# Recomputed by the HTTP client for the upstream connection.
_NOT_FORWARDED_UP = HOP_BY_HOP | {b"host", b"content-length"}
# Never stored in a cache entry: per-response or recomputed on replay.
_NOT_CACHED = HOP_BY_HOP | {b"content-length", b"date", b"set-cookie", b"x-rubberduck-cache"}

CONTROL_PREFIX = b"x-rubberduck-"


def _connection_tokens(headers: RawHeaders) -> set[bytes]:
    tokens: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            tokens.update(token.strip().lower() for token in value.split(b","))
    return tokens


def upstream_request_headers(headers: RawHeaders) -> RawHeaders:
    """Client headers as they go upstream: credentials and all, minus hop-by-hop and our controls."""
    listed = _connection_tokens(headers)
    result: RawHeaders = []
    for name, value in headers:
        lower = name.lower()
        if lower in _NOT_FORWARDED_UP or lower in listed or lower.startswith(CONTROL_PREFIX):
            continue
        result.append((lower, value))
    return result


def client_response_headers(headers: RawHeaders) -> RawHeaders:
    """Upstream response headers as they go back to the client."""
    listed = _connection_tokens(headers)
    return [(n.lower(), v) for n, v in headers if n.lower() not in HOP_BY_HOP and n.lower() not in listed]


def cacheable_headers(headers: RawHeaders) -> RawHeaders:
    return [(n, v) for n, v in headers if n not in _NOT_CACHED]


def header_dict(headers: RawHeaders) -> dict[str, str]:
    """Lower-cased names; repeated headers joined with ', ' as HTTP allows."""
    # Fast path: ASGI servers lower-case names already, and repeated names are rare.
    fast = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in headers}
    if len(fast) == len(headers):
        return fast
    result: dict[str, str] = {}
    for name, value in headers:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        result[key] = f"{result[key]}, {text}" if key in result else text
    return result
