"""The anthropic SDK through a Rubberduck proxy to a fake Anthropic that answers with real recordings."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest

from tests.fakes.cassette import recordings
from tests.fakes.upstream import FakeResponse, FakeUpstream
from tests.support import Api, proxy_url

MESSAGES = "/v1/messages"
MODELS_PAGE = {
    "data": [
        {
            "type": "model",
            "id": "claude-sonnet-4-5",
            "display_name": "Claude Sonnet 4.5",
            "created_at": "2025-09-29T00:00:00Z",
        }
    ],
    "has_more": False,
    "first_id": "claude-sonnet-4-5",
    "last_id": "claude-sonnet-4-5",
}


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream()
    upstream.add("POST", MESSAGES, recordings("anthropic", "messages_nonstream_gzip.yaml")[0])
    upstream.add("POST", "/v1/messages/count_tokens", recordings("anthropic", "count_tokens.yaml")[0])
    upstream.add("GET", "/v1/models", FakeResponse.json(200, MODELS_PAGE, [("request-id", "req_models")]))
    with upstream:
        yield upstream


@pytest.fixture
def proxy(api: Api, fake: FakeUpstream) -> dict[str, Any]:
    return api.running_proxy("anthropic", fake.url)


def client(proxy: dict[str, Any], **kwargs: Any) -> anthropic.Anthropic:
    kwargs.setdefault("api_key", "sk-ant-test-key")
    return anthropic.Anthropic(base_url=proxy_url(proxy), max_retries=0, **kwargs)


def ask(sdk: anthropic.Anthropic, **overrides: Any) -> Any:
    params: dict[str, Any] = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "Tell me a joke about OpenTelemetry"}],
    }
    params.update(overrides)
    return sdk.messages.with_raw_response.create(**params)


def test_messages_miss_then_hit_with_gzip_body(proxy: dict[str, Any], fake: FakeUpstream) -> None:
    sdk = client(proxy)
    first, second = ask(sdk), ask(sdk)
    assert (first.headers["x-rubberduck-cache"], second.headers["x-rubberduck-cache"]) == ("miss", "hit")
    assert fake.count("POST", MESSAGES) == 1
    # The upstream answered gzip; both the forwarded and the replayed body decode in the SDK.
    assert first.headers["content-encoding"] == second.headers["content-encoding"] == "gzip"
    assert first.parse().content[0].text == second.parse().content[0].text
    assert "OpenTelemetry" in first.parse().content[0].text or first.parse().content[0].text


def test_api_key_and_version_headers_pass_through(proxy: dict[str, Any], fake: FakeUpstream) -> None:
    ask(client(proxy))
    seen = fake.requests[-1].headers
    assert seen["authorization"] == "Bearer sk-ant-test-key"  # anthropic 2.x sends the key as a bearer
    assert seen["anthropic-version"]
    old_style = {"x-api-key": "sk-ant-legacy", "anthropic-version": "2023-06-01"}
    httpx.post(
        proxy_url(proxy) + MESSAGES, json={"model": "m", "max_tokens": 1, "messages": []}, headers=old_style
    )
    seen = fake.requests[-1].headers
    assert seen["x-api-key"] == "sk-ant-legacy" and seen["anthropic-version"] == "2023-06-01"


def test_beta_header_is_part_of_the_key(proxy: dict[str, Any], fake: FakeUpstream) -> None:
    sdk = client(proxy)
    ask(sdk)
    ask(sdk, extra_headers={"anthropic-beta": "interleaved-thinking-2025-05-14"})
    assert fake.count("POST", MESSAGES) == 2
    assert fake.requests[-1].headers["anthropic-beta"] == "interleaved-thinking-2025-05-14"


@pytest.mark.parametrize("name", ["messages_stream.yaml", "messages_stream_tool_use.yaml"])
def test_messages_stream_miss_then_hit(api: Api, fake: FakeUpstream, name: str) -> None:
    recording = recordings("anthropic", name)[0]
    fake.add("POST", MESSAGES, recording, stream=True)
    proxy = api.running_proxy("anthropic", fake.url)
    sdk = client(proxy)
    recorded = json.loads(recording.request_body)
    params = {key: recorded[key] for key in ("max_tokens", "messages", "tools") if key in recorded}
    params["model"] = "claude-sonnet-4-6"  # the SDK warns on the recording's deprecated model names
    results = []
    for _ in range(2):
        with sdk.messages.stream(**params) as stream:
            events = [event.type for event in stream]
            message = stream.get_final_message()
        results.append((events, message.model_dump()))
    assert fake.count("POST", MESSAGES) == 1
    assert results[0] == results[1]
    assert results[0][0][0] == "message_start" and results[0][0][-1] == "message_stop"
    assert results[0][1]["usage"]["output_tokens"] > 0


def test_count_tokens_and_models_list(proxy: dict[str, Any], fake: FakeUpstream) -> None:
    sdk = client(proxy)
    params = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "Hello"}]}
    counts = [sdk.messages.count_tokens(**params).input_tokens for _ in range(2)]  # type: ignore[arg-type]
    assert counts[0] == counts[1] > 0
    assert fake.count("POST", "/v1/messages/count_tokens") == 1
    models = [[model.id for model in sdk.models.list()] for _ in range(2)]
    assert models[0] == models[1] == ["claude-sonnet-4-5"]
    assert fake.count("GET", "/v1/models") == 1


def test_upstream_401_passes_through_uncached(api: Api, fake: FakeUpstream) -> None:
    error = recordings("anthropic", "messages_error_401_authentication.yaml")[0]
    fake.add("POST", MESSAGES, error)
    proxy = api.running_proxy("anthropic", fake.url)
    for _ in range(2):
        with pytest.raises(anthropic.AuthenticationError) as raised:
            ask(client(proxy))
        assert raised.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    assert fake.count("POST", MESSAGES) == 2


def test_gateway_errors_are_in_anthropic_format(api: Api, fake: FakeUpstream) -> None:
    unreachable = api.running_proxy("anthropic", "http://127.0.0.1:9")
    with pytest.raises(anthropic.InternalServerError) as raised:
        ask(client(unreachable))
    assert raised.value.status_code == 502
    assert raised.value.body["type"] == "error"  # type: ignore[index]

    fake.add("POST", MESSAGES, FakeResponse(hang=True))
    slow = api.running_proxy("anthropic", fake.url, options={"upstream_timeout_seconds": 0.5})
    with pytest.raises(anthropic.APIStatusError) as raised:
        ask(client(slow))
    assert raised.value.status_code == 504
    assert raised.value.body["error"]["type"] == "timeout_error"  # type: ignore[index]


def test_malformed_json_is_an_anthropic_400(proxy: dict[str, Any], fake: FakeUpstream) -> None:
    response = httpx.post(
        proxy_url(proxy) + MESSAGES, content=b"{nope", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert fake.count("POST", MESSAGES) == 0
