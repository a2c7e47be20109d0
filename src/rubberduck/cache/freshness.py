"""The upstream's caching headers: whether an answer may be stored, and until when it is fresh.

`Cache-Control: no-store` or `private` → not stored. `s-maxage`/`max-age` (else `Expires`) and the proxy's
`ttl_seconds` each give an expiry; the shortest wins. `no-cache` is not honoured as "do not store": every
SSE stream carries it, and an entry is replayed, never revalidated.
"""

from __future__ import annotations

from datetime import UTC
from email.utils import parsedate_to_datetime

from rubberduck.types import RawHeaders


def storage_policy(headers: RawHeaders, ttl_seconds: int | None, now: float) -> tuple[bool, float | None]:
    """(store at all, expires_at as epoch seconds or None for never)."""
    cache_control: list[bytes] = []
    expires: bytes | None = None
    for header, value in headers:
        if header == b"cache-control":
            cache_control.append(value)
        elif header == b"expires":
            expires = value
    expiry = None if ttl_seconds is None else now + ttl_seconds
    if not cache_control and expires is None:  # the common case
        return True, expiry
    max_age: int | None = None
    shared_max_age: int | None = None
    for line in cache_control:
        for directive in line.decode("latin-1").split(","):
            name, _, argument = directive.strip().partition("=")
            name = name.strip().lower()
            if name in ("no-store", "private"):
                return False, None
            if name == "max-age":
                max_age = _seconds(argument, max_age)
            elif name == "s-maxage":  # meant for shared caches, which a proxy is
                shared_max_age = _seconds(argument, shared_max_age)
    age = shared_max_age if shared_max_age is not None else max_age
    if age is not None:
        upstream = now + age
    elif expires is not None:
        upstream = _expires(expires, now)
    else:
        return True, expiry
    return True, upstream if expiry is None else min(expiry, upstream)


def _seconds(argument: str, current: int | None) -> int | None:
    text = argument.strip().strip('"')
    if not text.isascii() or not text.isdigit():
        return current if current is not None else 0  # a malformed age is treated as stale (RFC 9111 4.2.1)
    seconds = int(text)
    return seconds if current is None else min(current, seconds)


def _expires(value: bytes, now: float) -> float:
    """An invalid date (`Expires: 0`) means already expired (RFC 9111 5.3)."""
    try:
        moment = parsedate_to_datetime(value.decode("latin-1"))
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return now
