"""A recorded response made readable: JSON, text or base64 bodies, and a stream as its events.

Only for display: the stored bytes are what a hit replays and stay untouched. A gzip or deflate body is
decoded (and the view says so); Bedrock's binary event stream is parsed into its frames, with the base64
`bytes` of InvokeModelWithResponseStream decoded too.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import struct
import uuid
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from rubberduck.cache.entry import CachedResponse

EVENTSTREAM = "application/vnd.amazon.eventstream"
_PRELUDE = struct.Struct(">III")  # total length, headers length, prelude CRC
_MIN_FRAME = _PRELUDE.size + 4
_WBITS = {"gzip": 31, "x-gzip": 31, "deflate": 15}
# Every field is always in the answer: the UI's generated types then need no `?`.
_ALWAYS_SENT = ConfigDict(json_schema_serialization_defaults_required=True)


class FrameView(BaseModel):
    """One message of an AWS event stream."""

    model_config = _ALWAYS_SENT

    event_type: str | None  # `:event-type`, or `:exception-type` for an error message
    message_type: str | None  # `:message-type`: event, exception, error
    headers: dict[str, Any]
    payload: Any = None  # the payload as JSON, when it is JSON
    payload_text: str | None = None  # otherwise as text, when it is UTF-8
    payload_base64: str | None = None  # otherwise as base64
    bytes_decoded: Any = None  # the payload's base64 `bytes` member (InvokeModelWithResponseStream), decoded
    error: str | None = None  # a frame that could not be read (bad length or CRC)


class EventView(BaseModel):
    """One stored chunk of a stream, as it arrived from the upstream."""

    model_config = _ALWAYS_SENT

    offset_ms: float | None  # from the request's start
    data: str | None  # the chunk as text (decoded from the response's content encoding, if any)
    data_base64: str | None  # the chunk's bytes, when they are not text (an event stream, say)
    frames: list[FrameView] | None = None  # event stream messages completed by this chunk


class ResponseView(BaseModel):
    model_config = ConfigDict(populate_by_name=True, json_schema_serialization_defaults_required=True)

    status: int
    headers: list[tuple[str, str]]
    content_type: str | None
    encoding: str | None  # `gzip` or `deflate`: the body or events shown were decoded from it
    body: str | None = None
    body_base64: str | None = None
    json_body: Any = Field(default=None, serialization_alias="json")
    events: list[EventView] | None = None


def _header(headers: Sequence[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _json(data: bytes) -> tuple[bool, Any]:
    try:
        return True, orjson.loads(data)
    except orjson.JSONDecodeError:
        return False, None


def _text(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def response_view(entry: CachedResponse) -> ResponseView:
    headers = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in entry.headers]
    content_type = _header(entry.headers, b"content-type")
    declared = (_header(entry.headers, b"content-encoding") or "").strip().lower()
    encoding = declared if declared in _WBITS else None
    view = ResponseView(status=entry.status, headers=headers, content_type=content_type, encoding=encoding)
    media = (content_type or "").split(";")[0].strip().lower()
    if entry.stream:
        view.events, decoded = _events(entry, encoding, media == EVENTSTREAM)
        if not decoded:
            view.encoding = None  # not decodable after all: the events show the stored bytes
        return view
    raw = b"".join(entry.chunks)
    body = raw
    if encoding is not None:
        try:
            body = zlib.decompress(raw, _WBITS[encoding])
        except zlib.error:
            view.encoding, body = None, raw
    if media == "application/json" or media.endswith("+json"):
        parsed, value = _json(body)
        if parsed and value is not None:
            view.json_body = value
            return view
    text = _text(body)
    if text is not None:
        view.body = text
    else:
        view.encoding, view.body_base64 = None, _b64(raw)
    return view


def _events(entry: CachedResponse, encoding: str | None, eventstream: bool) -> tuple[list[EventView], bool]:
    """One view per stored chunk, and whether the content encoding (if any) could be decoded."""
    offsets = entry.offsets or ()
    inflate = zlib.decompressobj(_WBITS[encoding]) if encoding else None
    text = codecs.getincrementaldecoder("utf-8")()
    if inflate is not None:
        try:
            zlib.decompress(b"".join(entry.chunks), _WBITS[encoding or "gzip"])
        except zlib.error:
            inflate = None  # the events show the stored bytes as they are
    pending = b""  # event stream bytes of a frame not complete yet
    events: list[EventView] = []
    for index, chunk in enumerate(entry.chunks):
        offset = round(offsets[index] * 1000, 3) if index < len(offsets) else None
        data = chunk if inflate is None else inflate.decompress(chunk)
        if eventstream:
            frames, pending = _frames(pending + data)
            events.append(EventView(offset_ms=offset, data=None, data_base64=_b64(data), frames=frames))
            continue
        try:
            events.append(EventView(offset_ms=offset, data=text.decode(data), data_base64=None))
        except UnicodeDecodeError:
            text.reset()
            events.append(EventView(offset_ms=offset, data=None, data_base64=_b64(data)))
    return events, inflate is not None or encoding is None


def _frames(data: bytes) -> tuple[list[FrameView], bytes]:
    """The complete frames at the start of `data`, and what is left of it."""
    frames: list[FrameView] = []
    offset = 0
    while len(data) - offset >= _MIN_FRAME:
        total, headers_length, prelude_crc = _PRELUDE.unpack_from(data, offset)
        if total < _MIN_FRAME or headers_length > total - _MIN_FRAME:
            frames.append(_broken(f"bad frame lengths at byte {offset}"))
            return frames, b""
        if len(data) - offset < total:
            break
        frames.append(_frame(data[offset : offset + total], headers_length, prelude_crc))
        offset += total
    return frames, data[offset:]


def _broken(reason: str) -> FrameView:
    return FrameView(event_type=None, message_type=None, headers={}, error=reason)


def _frame(frame: bytes, headers_length: int, prelude_crc: int) -> FrameView:
    (message_crc,) = struct.unpack_from(">I", frame, len(frame) - 4)
    if prelude_crc != zlib.crc32(frame[:8]) or message_crc != zlib.crc32(frame[:-4]):
        return _broken("bad CRC")
    try:
        headers = _frame_headers(frame[_PRELUDE.size : _PRELUDE.size + headers_length])
    except (struct.error, IndexError, UnicodeDecodeError, ValueError) as exc:
        return _broken(f"bad headers: {exc}")
    payload = frame[_PRELUDE.size + headers_length : -4]
    event_type = headers.get(":event-type", headers.get(":exception-type"))
    message_type = headers.get(":message-type")
    view = FrameView(
        event_type=event_type if isinstance(event_type, str) else None,
        message_type=message_type if isinstance(message_type, str) else None,
        headers=headers,
    )
    parsed, value = _json(payload)
    if parsed:
        view.payload = value
        inner = value.get("bytes") if isinstance(value, dict) else None
        if isinstance(inner, str):
            view.bytes_decoded = _inner_bytes(inner)
    elif (text := _text(payload)) is not None:
        view.payload_text = text
    else:
        view.payload_base64 = _b64(payload)
    return view


def _inner_bytes(encoded: str) -> Any:
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None
    parsed, value = _json(raw)
    return value if parsed else _text(raw)


def _frame_headers(data: bytes) -> dict[str, Any]:
    """Event stream headers: a name, a type byte and a value of that type (JSON-ready)."""
    headers: dict[str, Any] = {}
    at = 0
    while at < len(data):
        size = data[at]
        name = data[at + 1 : at + 1 + size].decode("utf-8")
        kind = data[at + 1 + size]
        at += 2 + size
        value: Any
        if kind in (0, 1):
            value = kind == 0
        elif kind in (2, 3, 4, 5, 8):
            form = {2: ">b", 3: ">h", 4: ">i", 5: ">q", 8: ">q"}[kind]
            (value,) = struct.unpack_from(form, data, at)
            at += struct.calcsize(form)
            if kind == 8:  # milliseconds since the epoch
                value = datetime.fromtimestamp(value / 1000, UTC).isoformat()
        elif kind in (6, 7):
            (length,) = struct.unpack_from(">H", data, at)
            raw = data[at + 2 : at + 2 + length]
            if len(raw) != length:
                raise ValueError("header value cut short")
            value = raw.decode("utf-8") if kind == 7 else _b64(raw)
            at += 2 + length
        elif kind == 9:
            raw = data[at : at + 16]
            if len(raw) != 16:
                raise ValueError("uuid cut short")
            value = str(uuid.UUID(bytes=raw))
            at += 16
        else:
            raise ValueError(f"unknown header type {kind}")
        headers[name] = value
    return headers
