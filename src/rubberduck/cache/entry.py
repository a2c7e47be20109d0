"""A cached response: status, the headers a client needs, and the body as the chunks it arrived in."""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field
from typing import Any

from rubberduck.types import RawHeaders

_LENGTH = struct.Struct(">I")


@dataclass(frozen=True, slots=True)
class CachedResponse:
    status: int
    headers: RawHeaders
    chunks: tuple[bytes, ...]
    stream: bool
    # The request's key (the same for each of its occurrences) and which occurrence this entry answers.
    key: str = ""
    namespace: str = ""  # "" is the default namespace
    occurrence: int = 1
    operation: str | None = None
    model: str | None = None
    # The canonical request this entry answered, to explain a replay miss (never a credential):
    # {"method", "path", "query": [[name, value], ...], "headers": {key headers}, "body": JSON as sent}.
    request: dict[str, Any] | None = None
    ignored: tuple[str, ...] = ()  # the `ignore` paths left out of the key when it was recorded
    offsets: tuple[float, ...] | None = None  # seconds from the request's start to each chunk
    expires_at: float | None = None  # epoch seconds; None: kept forever
    created_at: float = field(default_factory=time.time)
    # What a hit sends, worked out once per entry rather than once per hit.
    hit_headers: RawHeaders = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ready = [*self.headers, (b"x-rubberduck-cache", b"hit")]
        if self.key:
            ready.append((b"x-rubberduck-cache-key", self.key.encode()))
        if len(self.chunks) == 1 and not self.stream:
            ready.append((b"content-length", str(len(self.chunks[0])).encode()))
        object.__setattr__(self, "hit_headers", ready)

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    @property
    def size(self) -> int:
        return sum(len(chunk) for chunk in self.chunks) + sum(len(k) + len(v) for k, v in self.headers)


def frame_chunks(chunks: tuple[bytes, ...]) -> bytes:
    """Length-prefix each chunk so a replayed stream keeps its original boundaries."""
    return b"".join(_LENGTH.pack(len(chunk)) + chunk for chunk in chunks)


def unframe_chunks(data: bytes) -> tuple[bytes, ...]:
    chunks: list[bytes] = []
    offset = 0
    while offset < len(data):
        (length,) = _LENGTH.unpack_from(data, offset)
        offset += _LENGTH.size
        chunks.append(data[offset : offset + length])
        offset += length
    return tuple(chunks)
