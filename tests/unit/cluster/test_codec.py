"""The Redis form of a cached response gives back every field, the chunks byte for byte."""

from __future__ import annotations

import pytest

from rubberduck.cache.entry import CachedResponse
from rubberduck.cluster.codec import decode, encode

STREAM = CachedResponse(
    status=200,
    headers=[(b"content-type", b"text/event-stream"), (b"x-odd", b"caf\xe9 \x00\xff")],
    chunks=(b"data: {\"a\": 1}\n\n", b"", b"\x00\x01\xfe\xff" * 1000, b"data: [DONE]\n\n"),
    stream=True,
    key="ab" * 32,
    namespace="suite:42",
    occurrence=3,
    operation="chat.completions",
    model="gpt-4o-mini",
    request={"method": "POST", "path": "/v1/chat/completions", "query": [["a", "1"]],
             "headers": {"openai-beta": "x"}, "body": {"messages": [{"role": "user", "content": "héllo"}],
                                                        "temperature": 0.1}},
    ignored=("body.user", "body.metadata"),
    offsets=(0.0, 0.1234567890123, 1.5, 2.000001),
    expires_at=1_900_000_000.123456,
    created_at=1_800_000_000.654321,
)  # fmt: skip


def test_a_stream_entry_round_trips_exactly() -> None:
    back = decode(encode(STREAM))
    assert back == STREAM
    assert back.chunks == STREAM.chunks and len(back.chunks) == 4
    assert back.headers == STREAM.headers
    assert back.offsets == STREAM.offsets and back.ignored == STREAM.ignored
    assert (back.expires_at, back.created_at) == (STREAM.expires_at, STREAM.created_at)
    assert back.request == STREAM.request
    assert back.hit_headers == STREAM.hit_headers


def test_a_plain_entry_with_nothing_optional_round_trips() -> None:
    plain = CachedResponse(status=404, headers=[], chunks=(b'{"error": {}}',), stream=False, created_at=5.0)
    back = decode(encode(plain))
    assert back == plain
    assert (back.request, back.offsets, back.expires_at, back.operation, back.model) == (None,) * 5
    assert back.ignored == () and back.occurrence == 1 and back.namespace == ""


@pytest.mark.parametrize(
    "data", [b"", b"RDC1", b"RDC1\x00\x00\x01\x00{}", b"other", b"RDC1\x00\x00\x00\x02{}"]
)
def test_anything_else_is_refused_with_a_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        decode(data)
