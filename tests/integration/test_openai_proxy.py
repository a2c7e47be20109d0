"""The openai SDK through a Rubberduck proxy to a fake OpenAI that answers with real recordings."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.cassette import recordings
from tests.fakes.upstream import FakeResponse, FakeUpstream
from tests.support import Api, proxy_url

CHAT = "/v1/chat/completions"


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream()
    upstream.add("POST", CHAT, recordings("openai", "chat_completions_nonstream_tools.yaml")[0])
    upstream.add("POST", "/v1/embeddings", recordings("openai", "embeddings_base64.yaml")[0])
    upstream.add("GET", "/v1/models", recordings("openai", "models_list.yaml")[0])
    with upstream:
        yield upstream


@pytest.fixture
def proxy(api: Api, fake: FakeUpstream) -> dict[str, Any]:
    return api.running_proxy("openai", fake.url)


def client(proxy: dict[str, Any], suffix: str = "/v1", **kwargs: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy_url(proxy) + suffix, api_key="sk-test-key", max_retries=0, **kwargs)


def ask(sdk: openai.OpenAI, **overrides: Any) -> Any:
    params: dict[str, Any] = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "What is 2+2?"}],
    }
    params.update(overrides)
    return sdk.chat.completions.with_raw_response.create(**params)


def test_chat_miss_then_hit(proxy: dict[str, Any], fake: FakeUpstream) -> None:
    sdk = client(proxy)
    first = ask(sdk)
    second = ask(sdk)
    assert first.headers["x-rubberduck-cache"] == "miss"
    assert second.headers["x-rubberduck-cache"] == "hit"
    assert fake.count("POST", CHAT) == 1
    assert first.parse().model_dump() == second.parse().model_dump()
    assert first.parse().choices[0].message.tool_calls  # the recording is a tool call
    assert second.headers["x-request-id"] == first.headers["x-request-id"]  # recorded headers replayed


def test_base_url_without_v1_is_forwarded_with_v1(proxy: dict[str, Any], fake: FakeUpstream) -> None:
    ask(client(proxy, suffix=""))
    assert fake.requests[-1].path == CHAT
    assert ask(client(proxy, suffix="/v1")).headers["x-rubberduck-cache"] == "hit"  # same key either way


def test_one_changed_parameter_is_another_key(proxy: dict[str, Any], fake: FakeUpstream) -> None:
    sdk = client(proxy)
    ask(sdk, seed=1)
    ask(sdk, seed=2)
    ask(sdk, n=2)
    ask(sdk, model="gpt-4o")
    assert fake.count("POST", CHAT) == 4
    assert ask(sdk, seed=1).headers["x-rubberduck-cache"] == "hit"


def test_embeddings_of_different_inputs_are_different_entries(
    proxy: dict[str, Any], fake: FakeUpstream
) -> None:
    sdk = client(proxy)
    first = sdk.embeddings.create(model="text-embedding-3-small", input="hello")
    sdk.embeddings.create(model="text-embedding-3-small", input="goodbye")
    assert fake.count("POST", "/v1/embeddings") == 2
    again = sdk.embeddings.with_raw_response.create(model="text-embedding-3-small", input="hello")
    assert again.headers["x-rubberduck-cache"] == "hit"
    assert again.parse().data[0].embedding == first.data[0].embedding
    assert len(first.data[0].embedding) > 10  # the SDK decoded the recorded base64 vector


def test_models_list_is_cached(proxy: dict[str, Any], fake: FakeUpstream) -> None:
    sdk = client(proxy)
    names = [model.id for model in sdk.models.list()]
    assert "gpt-3.5-turbo" in names
    assert [model.id for model in sdk.models.list()] == names
    assert fake.count("GET", "/v1/models") == 1


def test_chat_stream_miss_then_hit_replays_the_same_chunks(api: Api, fake: FakeUpstream) -> None:
    fake.add("POST", CHAT, recordings("openai", "chat_completions_stream_tools.yaml")[0], stream=True)
    proxy = api.running_proxy("openai", fake.url)
    sdk = client(proxy)

    def run() -> tuple[str, list[dict[str, Any]]]:
        with sdk.chat.completions.with_streaming_response.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "What is 1231 * 2331?"}],
            stream=True,
            stream_options={"include_usage": True},
        ) as response:
            cache = response.headers["x-rubberduck-cache"]
            chunks = [chunk.model_dump() for chunk in response.parse()]
        return cache, chunks

    miss, first = run()
    hit, second = run()
    assert (miss, hit) == ("miss", "hit")
    assert fake.count("POST", CHAT) == 1
    assert first == second
    arguments = "".join(
        call["function"]["arguments"] or ""
        for chunk in first
        for choice in chunk["choices"]
        for call in choice["delta"].get("tool_calls") or []
    )
    assert arguments == '{"a":1231,"b":2331}'
    assert first[-1]["usage"]["total_tokens"] > 0


def test_stream_bytes_and_boundaries_are_replayed_exactly(api: Api, fake: FakeUpstream) -> None:
    recording = recordings("openai", "chat_completions_stream_tools.yaml")[0]
    fake.add("POST", CHAT, recording, stream=True)
    proxy = api.running_proxy("openai", fake.url)
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "stream": True}

    def raw_chunks() -> list[bytes]:
        with httpx.stream("POST", proxy_url(proxy) + CHAT, json=body, timeout=10) as response:
            return list(response.iter_raw())

    first, second = raw_chunks(), raw_chunks()
    assert b"".join(first) == b"".join(second) == recording.body
    assert b"".join(second).count(b"data: ") == recording.body.count(b"data: ")


def test_responses_api_plain_and_streamed(api: Api, fake: FakeUpstream) -> None:
    fake.add("POST", "/v1/responses", recordings("openai", "responses_nonstream.yaml")[0])
    proxy = api.running_proxy("openai", fake.url)
    sdk = client(proxy)
    plain = sdk.responses.create(model="gpt-5.5", input="hi")
    assert plain.output_text
    assert (
        sdk.responses.with_raw_response.create(model="gpt-5.5", input="hi").headers["x-rubberduck-cache"]
        == "hit"
    )

    fake.add("POST", "/v1/responses", recordings("openai", "responses_stream.yaml")[0], stream=True)
    texts = []
    for _ in range(2):
        stream = sdk.responses.create(model="gpt-5.5", input="hi", stream=True)
        events = [event.type for event in stream]
        texts.append(events)
    assert texts[0] == texts[1]
    assert texts[0][0] == "response.created" and texts[0][-1] == "response.completed"
    assert fake.count("POST", "/v1/responses") == 2  # one plain, one streamed: the stream flag is in the key


def test_first_event_arrives_while_upstream_holds_the_rest(api: Api, fake: FakeUpstream) -> None:
    fake.add(
        "POST", CHAT, recordings("openai", "chat_completions_stream_tools.yaml")[0], stream=True, hold_after=1
    )
    proxy = api.running_proxy("openai", fake.url)
    sdk = client(proxy)
    stream = sdk.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hold"}], stream=True
    )
    first = next(iter(stream))  # would block until the gate timeout if the proxy buffered
    assert first.choices[0].delta.tool_calls
    released_at = time.monotonic()
    fake.release()
    rest = list(stream)
    assert rest and time.monotonic() - released_at < 5


def test_upstream_errors_pass_through_unchanged_and_are_not_cached(api: Api, fake: FakeUpstream) -> None:
    error = recordings("openai", "chat_error_401_invalid_api_key.yaml")[0]
    fake.add("POST", CHAT, error)
    proxy = api.running_proxy("openai", fake.url)
    sdk = client(proxy)
    for _ in range(2):
        with pytest.raises(openai.AuthenticationError) as raised:
            ask(sdk)
        assert raised.value.code == "invalid_api_key"
        assert raised.value.response.headers["x-rubberduck-cache"] == "miss"
    assert fake.count("POST", CHAT) == 2
    raw = httpx.post(proxy_url(proxy) + CHAT, json={"model": "m", "messages": []})
    assert raw.content == error.body


def test_client_headers_pass_through_and_hop_by_hop_do_not(proxy: dict[str, Any], fake: FakeUpstream) -> None:
    sdk = client(proxy, organization="org-123", default_headers={"x-custom": "yes"})
    ask(sdk)
    seen = fake.requests[-1].headers
    assert seen["authorization"] == "Bearer sk-test-key"
    assert seen["openai-organization"] == "org-123"
    assert seen["x-custom"] == "yes"
    assert seen["host"] == fake.url.removeprefix("http://")
    httpx.post(
        proxy_url(proxy) + CHAT,
        json={"model": "hop", "messages": []},
        headers={"Connection": "keep-alive, x-drop-me", "x-drop-me": "1", "Keep-Alive": "timeout=5"},
    )
    seen = fake.requests[-1].headers
    assert "x-drop-me" not in seen and "keep-alive" not in seen


def test_cache_controls_from_the_client(proxy: dict[str, Any], fake: FakeUpstream) -> None:
    sdk = client(proxy)
    ask(sdk)
    bypass = ask(sdk, extra_headers={"x-rubberduck-cache": "bypass"})
    no_cache = ask(sdk, extra_headers={"Cache-Control": "no-cache"})
    assert bypass.headers["x-rubberduck-cache"] == no_cache.headers["x-rubberduck-cache"] == "bypass"
    assert fake.count("POST", CHAT) == 3
    assert ask(sdk).headers["x-rubberduck-cache"] == "hit"


def test_multipart_uploads_pass_through_uncached(api: Api, fake: FakeUpstream) -> None:
    fake.add("POST", "/v1/files", FakeResponse.json(200, {"id": "file-1", "object": "file"}))
    proxy = api.running_proxy("openai", fake.url)
    sdk = client(proxy)
    for _ in range(2):
        created = sdk.files.with_raw_response.create(file=("a.jsonl", b'{"x": 1}\n'), purpose="batch")
        assert created.headers["x-rubberduck-cache"] == "bypass"
    assert fake.count("POST", "/v1/files") == 2
    assert b'{"x": 1}' in fake.requests[-1].body


def test_malformed_json_and_oversized_bodies_get_openai_errors(
    proxy: dict[str, Any], fake: FakeUpstream
) -> None:
    bad = httpx.post(
        proxy_url(proxy) + CHAT, content=b'{"model": ', headers={"content-type": "application/json"}
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["type"] == "invalid_request_error"
    big = httpx.post(proxy_url(proxy) + CHAT, content=b"x" * (64 * 1024 * 1024 + 10), timeout=60)
    assert big.status_code == 413
    assert "limit" in big.json()["error"]["message"]
    assert fake.count("POST", CHAT) == 0
    assert ask(client(proxy)).parse().choices  # the proxy still serves


def test_a_body_cut_off_by_a_hang_up_is_never_forwarded(proxy: dict[str, Any], fake: FakeUpstream) -> None:
    host, port = proxy_url(proxy).removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        head = f"POST {CHAT} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n"
        # Valid JSON on its own, but short of the declared length: the client went away mid-upload.
        sock.sendall(head.encode() + b'{"model": "gpt-4o-mini", "messages": []}')
    assert ask(client(proxy)).parse().choices  # a complete request after it is served...
    assert fake.count("POST", CHAT) == 1  # ...and is the only one that reached the upstream


def test_malformed_http_gets_a_400_in_openai_format(proxy: dict[str, Any]) -> None:
    host, port = proxy_url(proxy).removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert json.loads(body)["error"]["type"] == "invalid_request_error"


def test_unreachable_upstream_is_a_502_in_openai_format(api: Api) -> None:
    proxy = api.running_proxy("openai", "http://127.0.0.1:9")
    with pytest.raises(openai.InternalServerError) as raised:
        ask(client(proxy))
    assert raised.value.status_code == 502
    assert raised.value.body["code"] == "bad_gateway"  # type: ignore[index]


def test_slow_upstream_is_a_504_in_openai_format(api: Api, fake: FakeUpstream) -> None:
    fake.add("POST", CHAT, FakeResponse(hang=True))
    proxy = api.running_proxy("openai", fake.url, options={"upstream_timeout_seconds": 0.5})
    with pytest.raises(openai.InternalServerError) as raised:
        ask(client(proxy))
    assert raised.value.status_code == 504
    assert raised.value.body["type"] == "server_error"  # type: ignore[index]


def test_abandoned_stream_is_not_cached(api: Api, fake: FakeUpstream) -> None:
    fake.add(
        "POST", CHAT, recordings("openai", "chat_completions_stream_tools.yaml")[0], stream=True, hold_after=2
    )
    proxy = api.running_proxy("openai", fake.url)
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "bye"}], "stream": True}
    with httpx.stream("POST", proxy_url(proxy) + CHAT, json=body, timeout=10) as response:
        next(response.iter_raw())  # read a little, then hang up
    time.sleep(0.3)
    threading.Timer(0.2, fake.release).start()
    time.sleep(0.6)
    with httpx.stream("POST", proxy_url(proxy) + CHAT, json=body, timeout=10) as response:
        assert response.headers["x-rubberduck-cache"] == "miss"
        fake.release()
        response.read()
    assert fake.count("POST", CHAT) == 2


def test_a_stream_that_fails_mid_way_is_not_cached(api: Api, fake: FakeUpstream) -> None:
    chunks = [
        b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n',
        b'data: {"error":{"message":"The server had an error while processing your request.","type":"server_error"}}\n\n',
    ]
    fake.add("POST", CHAT, FakeResponse(200, [("content-type", "text/event-stream")], chunks=chunks))
    proxy = api.running_proxy("openai", fake.url)
    for _ in range(2):
        stream = client(proxy).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}], stream=True
        )
        with pytest.raises(openai.APIError, match="server had an error"):
            list(stream)
    assert fake.count("POST", CHAT) == 2
