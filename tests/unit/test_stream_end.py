"""Each provider's final stream event is recognised as it passes, however the bytes are chunked."""

from __future__ import annotations

import random

import pytest

from rubberduck.providers import build_registry
from rubberduck.providers.base import Route
from rubberduck.providers.stream_end import StreamEnd
from tests.fakes.cassette import Recording, recordings
from tests.fakes.eventstream import encode_frame, event_frame, split_frames
from tests.fakes.sse import split_sse_events

ADAPTERS = build_registry()

# (adapter, recording): every recorded stream the proxy may see, each ending with its final event.
STREAMS = [
    ("openai", "openai", "chat_completions_stream_tools.yaml"),
    ("openai", "openai", "responses_stream.yaml"),
    ("azure", "azure", "chat_completions_stream.yaml"),
    ("azure", "azure", "chat_completions_stream_usage_scrubbed.yaml"),
    ("anthropic", "anthropic", "messages_stream.yaml"),
    ("gemini", "vertex", "gemini_stream_generate_content_sse.yaml"),
    ("vertex", "vertex", "vertex_stream_generate_content_sse.yaml"),
    ("bedrock", "bedrock", "converse_stream.yaml"),
    ("bedrock", "bedrock", "invoke_with_response_stream_anthropic.yaml"),
]


def detector(adapter: str, rec: Recording) -> StreamEnd:
    headers = [(name.encode(), value.encode()) for name, value in rec.headers]
    found = ADAPTERS[adapter].stream_end(Route(path=rec.path, stream=True), headers)
    assert found is not None
    return found


def events(adapter: str, body: bytes) -> list[bytes]:
    return split_frames(body) if adapter == "bedrock" else split_sse_events(body)


def first_final(end: StreamEnd, chunks: list[bytes]) -> int | None:
    """The number of bytes fed when the detector first said "final" (None: never)."""
    fed = 0
    for chunk in chunks:
        fed += len(chunk)
        if end.feed(chunk):
            return fed
    return None


def cut(body: bytes, sizes: random.Random, largest: int) -> list[bytes]:
    chunks, offset = [], 0
    while offset < len(body):
        step = sizes.randint(1, largest)
        chunks.append(body[offset : offset + step])
        offset += step
    return chunks


@pytest.mark.parametrize(("adapter", "folder", "name"), STREAMS)
def test_the_final_event_is_recognised_at_its_last_byte_however_it_is_cut(
    adapter: str, folder: str, name: str
) -> None:
    rec = recordings(folder, name)[0]
    body = rec.body
    assert first_final(detector(adapter, rec), events(adapter, body)) == len(body)
    assert first_final(detector(adapter, rec), [body]) == len(body)
    assert first_final(detector(adapter, rec), [bytes([b]) for b in body]) == len(body)
    sizes = random.Random(name)
    for largest in (2, 7, 64, 700):
        for _ in range(5):
            assert first_final(detector(adapter, rec), cut(body, sizes, largest)) == len(body)


@pytest.mark.parametrize(("adapter", "folder", "name"), STREAMS)
def test_a_stream_cut_before_its_final_event_is_never_complete(adapter: str, folder: str, name: str) -> None:
    rec = recordings(folder, name)[0]
    head = b"".join(events(adapter, rec.body)[:-1])
    assert first_final(detector(adapter, rec), events(adapter, head)) is None
    assert first_final(detector(adapter, rec), [bytes([b]) for b in head]) is None
    # The final event without its last byte (its closing blank line or frame CRC) is not final yet.
    assert first_final(detector(adapter, rec), [rec.body[:-1]]) is None


def test_sse_variants_of_the_final_event() -> None:
    sse = [(b"content-type", b"text/event-stream")]
    openai = ADAPTERS["openai"]
    for body in (b"data:[DONE]\n\n", b"data: [DONE]\r\n\r\n", b"data: [DONE]\r\r", b"\n\ndata: [DONE]\n\n\n"):
        end = openai.stream_end(Route(path="/v1/chat/completions", stream=True), sse)
        assert end is not None and first_final(end, [b'data: {"a":1}\n\n', body]) is not None, body
    for body in (b"data: [DONE]\n", b"data: [DONE]", b'data: {"text":"[DONE]"}\n\n', b"data: [DONE]x\n\n"):
        end = openai.stream_end(Route(path="/v1/chat/completions", stream=True), sse)
        assert end is not None and first_final(end, [body]) is None, body
    # An event whose name spans two chunks, with its line ending in the second.
    end = ADAPTERS["anthropic"].stream_end(Route(path="/v1/messages", stream=True), sse)
    assert end is not None
    chunks = [b"event: message_st", b"op", b"\n", b'data: {"type":"message_stop"}\n', b"\n"]
    assert first_final(end, chunks) == len(b"".join(chunks))


def test_gemini_needs_both_markers_in_one_chunk_even_when_split() -> None:
    sse = [(b"content-type", b"text/event-stream")]
    gemini = ADAPTERS["gemini"]
    route = Route(path="/v1/models/m:streamGenerateContent", stream=True)
    final = (
        b'data: {"candidates": [{"finishReason": "STOP"}], "usageMetadata": {"promptTokenCount": 1}}\r\n\r\n'
    )
    for split in range(1, len(final)):
        end = gemini.stream_end(route, sse)
        assert end is not None
        assert (
            first_final(end, [b'data: {"usageMetadata": {}}\r\n\r\n', final[:split], final[split:]])
            is not None
        )
    end = gemini.stream_end(route, sse)
    assert end is not None  # the markers in two different chunks do not make a final one
    assert (
        first_final(end, [b'data: {"finishReason": "STOP"}\r\n\r\n', b'data: {"usageMetadata": {}}\r\n\r\n'])
        is None
    )
    end = gemini.stream_end(route, sse)
    assert end is not None  # escaped inside a text, the marker is text, not a field
    text = b'data: {"candidates": [{"content": {"parts": [{"text": "\\"finishReason\\": x"}]}}], "usageMetadata": {}}\n\n'
    assert first_final(end, [text]) is None


def test_bedrock_frames_that_are_not_the_last() -> None:
    eventstream = [(b"content-type", b"application/vnd.amazon.eventstream")]
    bedrock = ADAPTERS["bedrock"]
    route = Route(path="/model/m/converse-stream", stream=True)
    exception = encode_frame(
        {":message-type": "exception", ":exception-type": "throttlingException"}, b'{"message":"slow down"}'
    )
    for frames in (
        [event_frame("messageStart", b"{}"), event_frame("messageStop", b"{}")],
        [event_frame("messageStart", b"{}"), exception],
        [event_frame("metadata", b"{}")[:-1]],
        [event_frame("chunk", b'{"bytes":"not base64!"}')],
        [b"\x00\x00\x00\x01garbage-not-an-event-stream"],
    ):
        end = bedrock.stream_end(route, eventstream)
        assert end is not None and first_final(end, frames) is None
    big = event_frame("contentBlockDelta", b'{"p":"' + b"x" * 100_000 + b'"}')
    end = bedrock.stream_end(route, eventstream)
    assert end is not None
    assert first_final(end, [big[:5000], big[5000:], event_frame("metadata", b"{}")]) == len(big) + len(
        event_frame("metadata", b"{}")
    )


def test_no_detector_for_encoded_or_unexpected_bodies() -> None:
    route = Route(path="/v1/chat/completions", stream=True)
    openai = ADAPTERS["openai"]
    sse = [(b"Content-Type", b"text/event-stream; charset=utf-8")]
    assert openai.stream_end(route, sse) is not None
    assert openai.stream_end(route, [*sse, (b"Content-Encoding", b"gzip")]) is None  # falls back to the end
    assert openai.stream_end(route, [(b"content-type", b"application/json")]) is None
    assert openai.stream_end(Route(path="/v1/chat/completions"), sse) is None  # not a stream request
    bedrock = ADAPTERS["bedrock"]
    assert bedrock.stream_end(Route(path="/model/m/invoke"), []) is None
    assert bedrock.stream_end(Route(path="/model/m/converse-stream", stream=True), sse) is None
