"""How a recorded response is shown by the recordings API: bodies, streams, gzip and AWS event streams."""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import HTTPException

from rubberduck.api.recording_view import response_view
from rubberduck.api.recordings import decode_cursor, encode_cursor
from rubberduck.cache.entry import CachedResponse
from rubberduck.cache.store import EntryInfo
from tests.fakes.cassette import recordings
from tests.fakes.eventstream import encode_frame, event_frame, split_frames

JSON = [(b"content-type", b"application/json; charset=utf-8")]
SSE = [(b"content-type", b"text/event-stream")]
EVENTSTREAM = [(b"content-type", b"application/vnd.amazon.eventstream")]


def view(headers: list[tuple[bytes, bytes]], chunks: list[bytes], stream: bool = False, **kw: Any) -> Any:
    entry = CachedResponse(200, headers, tuple(chunks), stream, **kw)
    return response_view(entry).model_dump(mode="json", by_alias=True)


def test_a_json_body_is_shown_as_json_and_nothing_else() -> None:
    shown = view(JSON, [b'{"id": "x", "n": [1, 2]}'])
    assert shown["json"] == {"id": "x", "n": [1, 2]}
    assert (shown["body"], shown["body_base64"], shown["events"], shown["encoding"]) == (
        None,
        None,
        None,
        None,
    )
    assert ["content-type", "application/json; charset=utf-8"] in shown["headers"]


def test_a_gzip_json_body_is_decoded_and_says_so() -> None:
    rec = recordings("anthropic", "messages_nonstream_gzip.yaml")[0]
    headers = [(n.encode(), v.encode()) for n, v in rec.headers]
    shown = view(headers, [rec.body])
    assert rec.body[:2] == b"\x1f\x8b"
    assert shown["encoding"] == "gzip"
    assert shown["json"]["type"] == "message"


def test_text_and_binary_bodies() -> None:
    assert view([(b"content-type", b"text/plain")], [b"caf\xc3\xa9"])["body"] == "café"
    invalid_json = view(JSON, [b"not json"])
    assert (invalid_json["json"], invalid_json["body"]) == (None, "not json")
    binary = view([(b"content-type", b"application/octet-stream")], [b"\xff\x00\xfe"])
    assert (binary["body"], base64.b64decode(binary["body_base64"])) == (None, b"\xff\x00\xfe")


def test_a_bad_gzip_body_is_shown_as_stored() -> None:
    shown = view([*JSON, (b"content-encoding", b"gzip")], [b"\x1f\x8b\x00garbage\xff"])
    assert shown["encoding"] is None
    assert base64.b64decode(shown["body_base64"]) == b"\x1f\x8b\x00garbage\xff"


def test_a_stream_is_one_event_per_chunk_with_its_offset() -> None:
    chunks = [b'data: {"a":1}\n\n', b'data: {"b":"\xc3', b'\xa9"}\n\n', b"data: [DONE]\n\n"]
    shown = view(SSE, chunks, stream=True, offsets=(0.25, 0.5, 0.5005, 1.0))
    assert [e["offset_ms"] for e in shown["events"]] == [250.0, 500.0, 500.5, 1000.0]
    # A character cut between two chunks shows up whole in the chunk that completes it.
    assert [e["data"] for e in shown["events"]] == [
        'data: {"a":1}\n\n',
        'data: {"b":"',
        'é"}\n\n',
        "data: [DONE]\n\n",
    ]
    assert shown["body"] is None and shown["json"] is None


def test_a_stream_without_offsets_has_null_offsets() -> None:
    shown = view(SSE, [b"data: 1\n\n", b"data: 2\n\n"], stream=True)
    assert [e["offset_ms"] for e in shown["events"]] == [None, None]


def test_a_gzip_stream_is_decoded_chunk_by_chunk() -> None:
    events = [b'event: a\ndata: {"x":1}\n\n', b'event: b\ndata: {"y":2}\n\n']
    compressor = zlib.compressobj(wbits=31)
    chunks = [compressor.compress(e) + compressor.flush(zlib.Z_SYNC_FLUSH) for e in events]
    chunks[-1] += compressor.flush()
    shown = view([*SSE, (b"content-encoding", b"gzip")], chunks, stream=True)
    assert shown["encoding"] == "gzip"
    assert [e["data"] for e in shown["events"]] == [e.decode() for e in events]


def test_bedrock_invoke_stream_frames_are_decoded_with_their_inner_bytes() -> None:
    rec = recordings("bedrock", "invoke_with_response_stream_anthropic.yaml")[0]
    frames = split_frames(rec.body)
    shown = view(EVENTSTREAM, frames, stream=True, offsets=tuple(i / 10 for i in range(len(frames))))
    events = shown["events"]
    assert len(events) == len(frames) > 3
    assert all(
        e["data"] is None and base64.b64decode(e["data_base64"]) == f
        for e, f in zip(events, frames, strict=True)
    )
    first = events[0]["frames"][0]
    assert (first["event_type"], first["message_type"]) == ("chunk", "event")
    assert first["headers"][":content-type"] == "application/json"
    assert isinstance(first["payload"]["bytes"], str)
    inner = [e["frames"][0]["bytes_decoded"]["type"] for e in events]
    assert inner[0] == "message_start" and inner[-1] == "message_stop"


def test_event_stream_frames_split_across_chunks_show_where_they_complete() -> None:
    one = event_frame("messageStart", b'{"role":"assistant"}')
    two = event_frame("messageStop", b'{"stopReason":"end_turn"}')
    data = one + two
    chunks = [data[:10], data[10 : len(one) + 5], data[len(one) + 5 :]]
    events = view(EVENTSTREAM, chunks, stream=True)["events"]
    assert [[f["event_type"] for f in e["frames"]] for e in events] == [[], ["messageStart"], ["messageStop"]]
    assert events[2]["frames"][0]["payload"] == {"stopReason": "end_turn"}


def test_exception_frames_binary_payloads_and_bad_crcs() -> None:
    error = encode_frame(
        {":exception-type": "throttlingException", ":message-type": "exception"}, b'{"message":"slow down"}'
    )
    binary = encode_frame({":event-type": "blob"}, b"\xff\xfe")
    broken = bytearray(event_frame("chunk", b"{}"))
    broken[-1] ^= 0xFF
    events = view(EVENTSTREAM, [error, binary, bytes(broken)], stream=True)["events"]
    assert events[0]["frames"][0]["event_type"] == "throttlingException"
    assert events[0]["frames"][0]["message_type"] == "exception"
    assert events[1]["frames"][0]["payload_base64"] == base64.b64encode(b"\xff\xfe").decode()
    assert events[2]["frames"][0]["error"] == "bad CRC"


def info(created: datetime, key: str = "a" * 64, occurrence: int = 2) -> EntryInfo:
    return EntryInfo(key, "", occurrence, None, None, False, 200, 1, created, 0, None, None, [])


def test_cursor_round_trip() -> None:
    created = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    assert decode_cursor(encode_cursor(info(created))) == (created, "a" * 64, 2)


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!",
        base64.urlsafe_b64encode(b"[1,2]").decode(),
        base64.urlsafe_b64encode(json.dumps(["2026-01-01T00:00:00", "k", 1]).encode()).decode(),  # naive
        base64.urlsafe_b64encode(json.dumps(["2026-01-01T00:00:00+00:00", "k", 0]).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps(["2026-01-01T00:00:00+00:00", "k", True]).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps(["2026-01-01T00:00:00+00:00", 5, 1]).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps(["yesterday", "k", 1]).encode()).decode(),
        base64.urlsafe_b64encode(
            gzip.compress(b"x", mtime=0)
        ).decode(),  # mtime 0: the same id in every process
    ],
)
def test_a_malformed_cursor_is_a_422(cursor: str) -> None:
    with pytest.raises(HTTPException) as raised:
        decode_cursor(cursor)
    assert raised.value.status_code == 422
