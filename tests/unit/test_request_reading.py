"""RequestReader remembers what it read by the request's exact bytes: never at the cost of a wrong key."""

from __future__ import annotations

import orjson
import pytest

from rubberduck.cache.entry import CachedResponse
from rubberduck.cache.key import cache_key
from rubberduck.providers import build_registry
from rubberduck.proxy import reading
from rubberduck.proxy.reading import Reading, RequestReader

ADAPTERS = build_registry()
JSON = {"content-type": "application/json"}
CHAT = orjson.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})


def read(
    reader: RequestReader, body: bytes = CHAT, path: str = "/v1/chat/completions", **headers: str
) -> Reading:
    return reader.read("POST", path, "", {**JSON, **headers}, body)


def test_a_repeated_request_gets_the_key_a_fresh_reading_gives() -> None:
    reader = RequestReader(ADAPTERS["openai"])
    first, again = read(reader), read(reader, bytes(CHAT))  # equal bytes, another object
    assert again is first  # remembered
    expected = cache_key("POST", "/v1/chat/completions", "", orjson.loads(CHAT))
    assert first.cache_key == expected
    assert (first.route.model, first.route.operation, first.route.stream) == ("gpt-4o-mini", "chat", False)


def test_one_byte_path_or_key_header_of_difference_is_another_key() -> None:
    reader = RequestReader(ADAPTERS["anthropic"])
    body = orjson.dumps({"model": "claude-sonnet-4-5", "max_tokens": 5, "messages": []})
    base = read(reader, body, "/v1/messages", **{"anthropic-version": "2023-06-01"})
    others = [
        read(reader, body.replace(b"5", b"6"), "/v1/messages", **{"anthropic-version": "2023-06-01"}),
        read(reader, body, "/v1/messages/count_tokens", **{"anthropic-version": "2023-06-01"}),
        read(reader, body, "/v1/messages", **{"anthropic-version": "2023-06-01", "anthropic-beta": "x"}),
    ]
    keys = {base.cache_key, *(other.cache_key for other in others)}
    assert None not in keys and len(keys) == 4


def test_each_request_gets_its_own_route_to_change() -> None:
    reader = RequestReader(ADAPTERS["openai"])
    route = read(reader).route_copy()
    route.stream = True  # what the cache stage does on a stream hit
    assert read(reader).route_copy().stream is False


def test_invalid_json_stays_invalid_and_other_content_types_are_not_parsed() -> None:
    reader = RequestReader(ADAPTERS["openai"])
    assert not read(reader, b'{"model": ').json_ok
    assert not read(reader, b'{"model": ').json_ok
    form = reader.read("POST", "/v1/files", "", {"content-type": "multipart/form-data; b=x"}, b"--x")
    assert form.json_ok and form.parsed is None and form.cache_key is None


def test_large_bodies_are_read_every_time_and_the_memo_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reading, "MEMO_BYTES", 10_000)
    reader = RequestReader(ADAPTERS["openai"])
    large = orjson.dumps({"model": "m", "input": "x" * (reading.MEMO_MAX_BODY + 1)})
    assert read(reader, large, "/v1/embeddings") is not read(reader, large, "/v1/embeddings")
    for n in range(200):
        read(reader, orjson.dumps({"model": "m", "input": f"{n:0>100}"}), "/v1/embeddings")
    assert reader.remembered_bytes <= 10_000


def test_a_hit_sends_headers_worked_out_once_with_the_length_only_for_a_plain_body() -> None:
    plain = CachedResponse(200, [(b"content-type", b"application/json")], (b"{}",), False)
    stream = CachedResponse(200, [(b"content-type", b"text/event-stream")], (b"data: 1\n\n",), True)
    assert plain.hit_headers == [
        (b"content-type", b"application/json"),
        (b"x-rubberduck-cache", b"hit"),
        (b"content-length", b"2"),
    ]
    assert stream.hit_headers == [(b"content-type", b"text/event-stream"), (b"x-rubberduck-cache", b"hit")]
