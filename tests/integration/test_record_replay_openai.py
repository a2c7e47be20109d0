"""Record, then replay offline, through the openai SDK (OpenAI and Azure); replay misses; namespaces."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.fakes.cassette import recordings
from tests.fakes.upstream import FakeUpstream
from tests.integration.recording_support import KEY_HEADER, log_rows, recorded_entries, set_cache
from tests.support import Api, proxy_url

CHAT = "/v1/chat/completions"
STREAM_CHAT = "/v1/chat/completions"
AZURE_CHAT = "/openai/deployments/gpt-5-nano/chat/completions"
AZURE_STREAM = "/openai/deployments/test-openai/chat/completions"
QUESTION = [{"role": "user", "content": "What is 2+2?"}]


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream()
    upstream.add("POST", CHAT, recordings("openai", "chat_completions_nonstream_tools.yaml")[0])
    upstream.add("POST", AZURE_CHAT, recordings("azure", "chat_completions_nonstream_and_404.yaml")[0])
    upstream.add("POST", AZURE_STREAM, recordings("azure", "chat_completions_stream.yaml")[0], stream=True)
    with upstream:
        yield upstream


def openai_client(base: str, **kwargs: Any) -> openai.OpenAI:
    kwargs.setdefault("max_retries", 0)
    return openai.OpenAI(base_url=base, api_key="sk-test-key", **kwargs)


def azure_client(proxy: dict[str, Any], **kwargs: Any) -> openai.AzureOpenAI:
    kwargs.setdefault("max_retries", 0)
    return openai.AzureOpenAI(
        azure_endpoint=proxy_url(proxy), api_version="2024-02-01", api_key="azure-test-key", **kwargs
    )


def ask(sdk: openai.OpenAI, model: str = "gpt-4o-mini", messages: Any = None, **extra: Any) -> Any:
    return sdk.chat.completions.with_raw_response.create(model=model, messages=messages or QUESTION, **extra)


def stream(sdk: openai.OpenAI, model: str) -> tuple[str, str, list[dict[str, Any]]]:
    with sdk.chat.completions.with_streaming_response.create(
        model=model, messages=QUESTION, stream=True
    ) as response:
        return (
            response.headers["x-rubberduck-cache"],
            response.headers[KEY_HEADER],
            [chunk.model_dump() for chunk in response.parse()],
        )


def test_openai_recorded_then_replayed_with_the_upstream_gone(api: Api, fake: FakeUpstream) -> None:
    stream_recording = recordings("openai", "chat_completions_stream_tools.yaml")[0]
    fake.add("POST", "/v1/chat/completions", stream_recording, stream=True)
    proxy = api.running_proxy("openai", fake.url)
    sdk = openai_client(proxy_url(proxy) + "/v1")
    recorded_stream = stream(sdk, "gpt-4o-mini")
    fake.add("POST", CHAT, recordings("openai", "chat_completions_nonstream_tools.yaml")[0])
    recorded = ask(sdk, model="gpt-4o")
    assert recorded_stream[0] == recorded.headers["x-rubberduck-cache"] == "miss"
    assert set_cache(api, proxy["id"], mode="replay")["mode"] == "replay"
    fake.stop()  # offline: anything that reached for the upstream would now fail with a 502

    replayed_stream = stream(sdk, "gpt-4o-mini")
    replayed = ask(sdk, model="gpt-4o")
    assert replayed_stream[0] == replayed.headers["x-rubberduck-cache"] == "hit"
    assert replayed_stream[1] == recorded_stream[1] and len(replayed_stream[1]) == 64
    assert replayed_stream[2] == recorded_stream[2] and len(replayed_stream[2]) > 3
    assert replayed.parse().model_dump() == recorded.parse().model_dump()
    assert replayed.headers[KEY_HEADER] == recorded.headers[KEY_HEADER]


def test_azure_recorded_then_replayed_without_calling_the_upstream(api: Api, fake: FakeUpstream) -> None:
    proxy = api.running_proxy("azure", fake.url)
    sdk = azure_client(proxy)
    recorded = ask(sdk, model="gpt-5-nano")
    recorded_stream = stream(sdk, "test-openai")
    set_cache(api, proxy["id"], mode="replay")
    replayed = ask(sdk, model="gpt-5-nano")
    replayed_stream = stream(sdk, "test-openai")
    assert fake.count("POST", AZURE_CHAT) == fake.count("POST", AZURE_STREAM) == 1
    assert replayed.headers["x-rubberduck-cache"] == replayed_stream[0] == "hit"
    assert replayed.parse().model_dump() == recorded.parse().model_dump()
    assert replayed_stream[2] == recorded_stream[2] and replayed_stream[2]


def test_openai_replay_miss_names_the_difference_and_is_not_retried(api: Api, fake: FakeUpstream) -> None:
    proxy = api.running_proxy("openai", fake.url)
    sdk = openai_client(proxy_url(proxy) + "/v1", max_retries=2)  # the SDK's own retry policy
    ask(sdk)
    set_cache(api, proxy["id"], mode="replay")
    sent = [{"role": "user", "content": "What is 3+3?"}]
    with pytest.raises(openai.NotFoundError) as caught:
        ask(sdk, messages=sent)
    error = caught.value
    assert (error.status_code, error.type, error.code) == (404, "replay_miss", "replay_miss")
    assert 'messages[0].content: recorded "What is 2+2?" ≠ sent "What is 3+3?"' in error.message
    key = error.response.headers[KEY_HEADER]
    assert f"key {key}" in error.message and "the default namespace" in error.message
    assert fake.count("POST", CHAT) == 1  # recorded once, never called in replay mode

    rows = log_rows(api, proxy["id"], 2, settle=0.5)
    assert len(rows) == 2  # one recording, one miss: no SDK retry
    recorded, miss = rows
    assert (miss["status"], miss["cache_status"], miss["cache_key"]) == (404, "miss", key)
    # The differing paths, and the nearest entry by its key (a hash): the UI links the row to it.
    assert miss["error"] == f"replay_miss: messages[0].content (nearest {recorded['cache_key']}#1)"
    assert "3+3" not in json.dumps(miss) and "2+2" not in json.dumps(miss)  # paths, never values


def test_azure_replay_miss_is_a_not_found_with_replay_miss_code(api: Api, fake: FakeUpstream) -> None:
    proxy = api.running_proxy("azure", fake.url)
    sdk = azure_client(proxy, max_retries=2)
    ask(sdk, model="gpt-5-nano")
    set_cache(api, proxy["id"], mode="replay")
    with pytest.raises(openai.NotFoundError) as caught:
        ask(sdk, model="gpt-5-nano", temperature=0.5)
    assert (caught.value.type, caught.value.code) == ("replay_miss", "replay_miss")
    assert "temperature: recorded (absent) ≠ sent 0.5" in caught.value.message
    assert fake.count("POST", AZURE_CHAT) == 1
    rows = log_rows(api, proxy["id"], 2, settle=0.5)
    assert (
        len(rows) == 2 and rows[-1]["error"] == f"replay_miss: temperature (nearest {rows[0]['cache_key']}#1)"
    )


def test_namespace_by_header_and_by_path_prefix(api: Api, fake: FakeUpstream) -> None:
    proxy = api.running_proxy("openai", fake.url)
    base = proxy_url(proxy)
    plain = openai_client(base + "/v1")

    def in_namespace(name: str) -> openai.OpenAI:
        return plain.with_options(default_headers={"x-rubberduck-namespace": name})

    statuses = [
        ask(sdk).headers["x-rubberduck-cache"]
        for sdk in (in_namespace("alpha"), in_namespace("alpha"), in_namespace("beta"), plain)
    ]
    assert statuses == ["miss", "hit", "miss", "miss"]  # the same request in two namespaces: two entries
    assert "x-rubberduck-namespace" not in fake.requests[-2].headers  # controls never go upstream

    prefixed = openai_client(base + "/_ns/test_login/v1")
    first = ask(prefixed)
    assert first.headers["x-rubberduck-cache"] == "miss"
    assert fake.requests[-1].path == CHAT  # the prefix is stripped before routing
    assert ask(in_namespace("test_login")).headers["x-rubberduck-cache"] == "hit"  # one namespace, two forms
    assert ask(openai_client(base + "/_ns/test_login")).headers["x-rubberduck-cache"] == "hit"  # /v1 added
    assert fake.count("POST", CHAT) == 4

    entries = recorded_entries(api, proxy["id"])
    assert sorted(entry["namespace"] for entry in entries) == ["", "alpha", "beta", "test_login"]
    assert len({entry["key"] for entry in entries}) == 4


@pytest.mark.parametrize(
    ("suffix", "headers", "fragment"),
    [
        ("/_ns/bad$name/v1", {}, "invalid namespace 'bad$name'"),
        ("/_ns//v1", {}, "invalid namespace ''"),
        ("/v1", {"x-rubberduck-namespace": "x" * 201}, "x-rubberduck-namespace header"),
        ("/v1", {"x-rubberduck-namespace": "has space"}, "invalid namespace 'has space'"),
        ("/_ns/one/v1", {"x-rubberduck-namespace": "two"}, "name different namespaces"),
    ],
)
def test_an_invalid_namespace_is_a_provider_format_400(
    api: Api, fake: FakeUpstream, suffix: str, headers: dict[str, str], fragment: str
) -> None:
    proxy = api.running_proxy("openai", fake.url)
    sdk = openai_client(proxy_url(proxy) + suffix, default_headers=headers)
    with pytest.raises(openai.BadRequestError) as caught:
        ask(sdk)
    assert caught.value.type == "invalid_request_error" and fragment in caught.value.message
    assert fake.count("POST", CHAT) == 0
    row = log_rows(api, proxy["id"], 1)[-1]
    assert row["status"] == 400 and "namespace" in row["error"]
