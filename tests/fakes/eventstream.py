"""AWS event stream framing (application/vnd.amazon.eventstream) for fake Bedrock upstreams.

    [total_len u32][headers_len u32][prelude_crc u32][headers][payload][message_crc u32]

All integers big-endian; both CRCs are CRC-32 (zlib), the prelude's over the first 8 bytes and the
message's over everything before it. Only string headers (type 7) are written, as Bedrock does.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping

_PRELUDE = struct.Struct(">II")
_STRING = 7


def encode_frame(headers: Mapping[str, str], payload: bytes) -> bytes:
    encoded = b"".join(
        struct.pack(">B", len(name.encode()))
        + name.encode()
        + struct.pack(">BH", _STRING, len(value.encode()))
        + value.encode()
        for name, value in headers.items()
    )
    total = _PRELUDE.size + 4 + len(encoded) + len(payload) + 4
    prelude = _PRELUDE.pack(total, len(encoded))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded + payload
    return message + struct.pack(">I", zlib.crc32(message))


def event_frame(event_type: str, payload: bytes) -> bytes:
    return encode_frame(
        {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}, payload
    )


def split_frames(data: bytes) -> list[bytes]:
    """Cut a recorded stream body into its messages, checking each frame's length and CRCs."""
    frames: list[bytes] = []
    offset = 0
    while offset < len(data):
        total, _headers_len = _PRELUDE.unpack_from(data, offset)
        frame = data[offset : offset + total]
        if len(frame) != total:
            raise ValueError(f"truncated event stream frame at byte {offset}")
        (prelude_crc,) = struct.unpack_from(">I", frame, 8)
        (message_crc,) = struct.unpack_from(">I", frame, total - 4)
        if prelude_crc != zlib.crc32(frame[:8]) or message_crc != zlib.crc32(frame[:-4]):
            raise ValueError(f"bad CRC in the event stream frame at byte {offset}")
        frames.append(frame)
        offset += total
    return frames
