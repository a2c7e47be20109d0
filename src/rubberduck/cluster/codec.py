"""A cached response as one Redis value: a small JSON header, then the body chunks length-prefixed.

The chunks stay raw bytes (no base64) because entries are read on every cache miss of every node and
can be megabytes; only the header, which is small, goes through orjson. The chunk boundaries are kept
(`frame_chunks`) so a replayed stream arrives in the pieces it was recorded in.
"""

from __future__ import annotations

import struct
from typing import Any

import orjson

from rubberduck.cache.entry import CachedResponse, frame_chunks, unframe_chunks

MAGIC = b"RDC1"  # a format version: a node of another release reads a miss, never a wrong entry
_HEADER_LENGTH = struct.Struct(">I")


def encode(entry: CachedResponse) -> bytes:
    header: dict[str, Any] = {
        "status": entry.status,
        # Header names and values are bytes on the wire; latin-1 maps each byte to one code point.
        "headers": [[name.decode("latin-1"), value.decode("latin-1")] for name, value in entry.headers],
        "stream": entry.stream,
        "key": entry.key,
        "namespace": entry.namespace,
        "occurrence": entry.occurrence,
        "operation": entry.operation,
        "model": entry.model,
        "request": entry.request,
        "ignored": list(entry.ignored),
        "offsets": None if entry.offsets is None else list(entry.offsets),
        "expires_at": entry.expires_at,
        "created_at": entry.created_at,
    }
    packed = orjson.dumps(header)
    return MAGIC + _HEADER_LENGTH.pack(len(packed)) + packed + frame_chunks(entry.chunks)


def decode(data: bytes) -> CachedResponse:
    """The entry `encode` wrote; ValueError for anything else (the caller then reads the durable copy)."""
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + _HEADER_LENGTH.size:
        raise ValueError("not a cached response in this format")
    start = len(MAGIC) + _HEADER_LENGTH.size
    (length,) = _HEADER_LENGTH.unpack_from(data, len(MAGIC))
    if start + length > len(data):
        raise ValueError("truncated cached response")
    try:
        header = orjson.loads(data[start : start + length])
        offsets = header["offsets"]
        return CachedResponse(
            status=header["status"],
            headers=[(name.encode("latin-1"), value.encode("latin-1")) for name, value in header["headers"]],
            chunks=unframe_chunks(data[start + length :]),
            stream=header["stream"],
            key=header["key"],
            namespace=header["namespace"],
            occurrence=header["occurrence"],
            operation=header["operation"],
            model=header["model"],
            request=header["request"],
            ignored=tuple(header["ignored"]),
            offsets=None if offsets is None else tuple(offsets),
            expires_at=header["expires_at"],
            created_at=header["created_at"],
        )
    except (KeyError, TypeError, struct.error, orjson.JSONDecodeError) as error:
        raise ValueError(f"damaged cached response: {error}") from error
