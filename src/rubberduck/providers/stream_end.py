"""Recognising a provider's final stream event as it passes, so a stream counts as complete on it.

SDKs stop reading at the final event (the openai SDK closes the connection at `data: [DONE]`) while
the provider's body ends a few milliseconds later: the proxy must not take that hang-up for an
abandoned stream. A detector is fed every forwarded chunk and answers True once the bytes so far end
with the provider's final event. It looks only at what each chunk adds (the tail of the stream) and
carries a few bytes of state, so an event split across chunks is still recognised and nothing is ever
parsed twice.
"""

from __future__ import annotations

import base64
import binascii
from typing import Protocol

import orjson

_NEWLINES = b"\r\n"
_HEAD = 64  # enough of an event's first line to tell its name


class StreamEnd(Protocol):
    def feed(self, chunk: bytes) -> bool:
        """True when the stream, up to and including `chunk`, ends with the provider's final event."""
        ...


def _ends_event(line_endings: bytes) -> bool:
    """Whether these line endings hold an empty line, which ends an SSE event.

    An empty line is a line ending followed by another: as byte pairs, exactly "\n\n", "\n\r" and
    "\r\r" ("\r\n" alone is one line ending; "\r\n\r\n" holds "\n\r"). A trailing "\r\n\r" waits
    for its "\n", so that an event counts as complete only with every byte of its blank line.
    """
    if line_endings.endswith(b"\n\r"):
        line_endings = line_endings[:-1]
    return b"\n\n" in line_endings or b"\n\r" in line_endings or b"\r\r" in line_endings


def _spellings(line: bytes) -> tuple[bytes, bytes]:
    """`data: [DONE]` and `data:[DONE]`: SSE allows both (one space after the colon is dropped)."""
    name, _, value = line.partition(b":")
    value = value.removeprefix(b" ")
    return name + b": " + value, name + b":" + value


class SseFinalEvent:
    """A Server-Sent-Events stream ends with an event whose first line is one of `first_lines`, or
    whose content holds every one of `markers` (e.g. Gemini's `"finishReason":` chunk).

    Per chunk, only the bytes after its last empty line are looked at closely (the event the chunk
    ends in); an event split across chunks keeps its first bytes, and the markers seen so far.
    """

    __slots__ = ("closed", "first_lines", "found", "head", "markers", "overlap", "prev", "width")

    def __init__(self, first_lines: frozenset[bytes], markers: tuple[bytes, ...] = ()) -> None:
        self.first_lines = frozenset(spelling for line in first_lines for spelling in _spellings(line))
        self.markers = markers
        self.width = max(map(len, markers), default=0)  # bytes kept for a marker split across chunks
        self.prev = b""  # the last two bytes seen, for an empty line split across chunks
        # The latest event that has content: its first bytes, the markers it holds, whether an
        # empty line has closed it, and its last bytes (for a marker split across chunks).
        self.head = b""
        self.found: set[bytes] = set()
        self.closed = True
        self.overlap = b""

    def feed(self, chunk: bytes) -> bool:
        if not chunk:
            return False
        prev = self.prev
        data = prev + chunk if prev else chunk
        skip = len(prev)
        self.prev = data[-2:]
        end = len(data.rstrip(_NEWLINES))  # just past the last content byte
        if end > skip:  # this chunk carries content: which event does its last byte belong to?
            start = max(data.rfind(b"\n\n", 0, end), data.rfind(b"\n\r", 0, end), data.rfind(b"\r\r", 0, end))
            if start >= 0 or self.closed:  # a new event begins in this chunk
                begin = start + 2 if start >= 0 else skip
                self.head = data[begin : begin + 2 * _HEAD].lstrip(_NEWLINES)[:_HEAD]
                if self.markers:
                    self.found.clear()
                    self._scan(data[begin:end], b"")
            else:  # the open event goes on
                if len(self.head) < _HEAD:
                    self.head = (self.head + chunk)[:_HEAD]
                if self.markers:
                    self._scan(data[skip:end], self.overlap)
            self.closed = _ends_event(data[end:])
        elif not self.closed:  # only line endings: they may close the open event
            if len(self.head) < _HEAD:
                self.head = (self.head + chunk)[:_HEAD]
            self.closed = _ends_event(data)
        if not self.closed:
            return False
        if self.markers and len(self.found) == len(self.markers):
            return True
        return self.head.partition(b"\n")[0].partition(b"\r")[0] in self.first_lines

    def _scan(self, content: bytes, overlap: bytes) -> None:
        text = overlap + content
        for marker in self.markers:
            if marker not in self.found and marker in text:
                self.found.add(marker)
        self.overlap = text[-self.width :]


# AWS event stream frames: [total u32][headers length u32][prelude crc u32][headers][payload][crc u32].
_PRELUDE = 12
_MAX_FINAL_FRAME = 64 * 1024  # a final frame is small; bigger frames are skipped, never buffered
_METADATA = b"\x0b:event-type\x07\x00\x08metadata"  # ConverseStream's last event, after messageStop
_CHUNK = b"\x0b:event-type\x07\x00\x05chunk"  # InvokeModelWithResponseStream: one model event


class EventStreamFinalFrame:
    """Bedrock's event streams: ConverseStream ends with its `metadata` event;
    InvokeModelWithResponseStream with the chunk that carries `amazon-bedrock-invocationMetrics`
    (for Claude, the `message_stop` event)."""

    __slots__ = ("broken", "pending", "skip")

    def __init__(self) -> None:
        self.pending = bytearray()  # the start of a frame not yet complete
        self.skip = 0  # bytes still to come of a frame too big to be the last one
        self.broken = False

    def feed(self, chunk: bytes) -> bool:
        if self.broken:
            return False
        if self.skip:
            if len(chunk) <= self.skip:
                self.skip -= len(chunk)
                return False
            chunk, self.skip = chunk[self.skip :], 0
        data = self.pending
        data += chunk
        offset, last = 0, -1
        while len(data) - offset >= _PRELUDE:
            total = int.from_bytes(data[offset : offset + 4], "big")
            if total < 16:  # not an event stream after all: leave it to the end of the body
                self.broken = True
                return False
            available = len(data) - offset
            if total > _MAX_FINAL_FRAME:
                last = -1
                if available < total:
                    self.skip = total - available
                    offset = len(data)
                    break
            elif available < total:
                break
            else:
                last = offset
            offset += total
        final = last >= 0 and offset == len(data) and _final_frame(bytes(data[last:offset]))
        del data[:offset]
        return final


def _final_frame(frame: bytes) -> bool:
    headers_end = _PRELUDE + int.from_bytes(frame[4:8], "big")
    headers = frame[_PRELUDE:headers_end]
    if _METADATA in headers:
        return True
    if _CHUNK not in headers:
        return False
    try:
        document = orjson.loads(frame[headers_end:-4])
        inner = base64.b64decode(document["bytes"], validate=True)
    except (orjson.JSONDecodeError, binascii.Error, KeyError, TypeError, ValueError):
        return False
    return b'"amazon-bedrock-invocationMetrics"' in inner or inner.startswith(b'{"type":"message_stop"')
