"""The openai SDK's Azure clients through a Rubberduck proxy to a fake Azure OpenAI replaying recordings.

Some recordings were made with an endpoint ending in "/" and so show `//openai/...`; the current SDK
strips that slash, so the fake answers on the path the SDK really sends.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.cassette import recordings
from tests.fakes.upstream import FakeResponse, FakeUpstream
from tests.support import Api, proxy_url

API_VERSION = "2024-02-01"
KEY = "azure-test-key"
CHAT = "/openai/deployments/gpt-5-nano/chat/completions"
STREAM_CHAT = "/openai/deployments/test-openai/chat/completions"
EMBEDDINGS = "/openai/deployments/test-openai/embeddings"
RESPONSES_V1 = "/openai/v1/responses"


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream()
    upstream.add("POST", CHAT, recordings("azure", "chat_completions_nonstream_and_404.yaml")[0])
    upstream.add("POST", EMBEDDINGS, recordings("azure", "embeddings.yaml")[0])
    with upstream:
        yield upstream


@pytest.fixture
def proxy(api: Api, fake: FakeUpstream) -> dict[str, Any]:
    return api.running_proxy("azure", fake.url)


def azure(proxy: dict[str, Any], api_version: str = API_VERSION, **kwargs: Any) -> openai.AzureOpenAI:
    if "azure_ad_token" not in kwargs and "azure_ad_token_provider" not in kwargs:
        kwargs["api_key"] = KEY  # the SDK refuses a key together with a token
    return openai.AzureOpenAI(
        azure_endpoint=proxy_url(proxy), api_version=api_version, max_retries=0, **kwargs
    )


def ask(sdk: openai.AzureOpenAI, model: str = "gpt-5-nano", **overrides: Any) -> Any:
    params: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": "Count r's"}]}
    params.update(overrides)
    return sdk.chat.completions.with_raw_response.create(**params)


def test_chat_miss_then_hit_with_api_key(proxy: dict[str, Any], fake: FakeUpstream) -> None:
    sdk = azure(proxy)
    first = ask(sdk)
    second = ask(sdk)
    assert (first.headers["x-rubberduck-cache"], second.headers["x-rubberduck-cache"]) == ("miss", "hit")
    assert fake.count("POST", CHAT) == 1
    assert first.parse().model_dump() == second.parse().model_dump()
    assert first.parse().choices[0].message.content == "3"
    assert second.headers["x-ms-region"] == "East US 2"  # recorded Azure headers are replayed
    seen = fake.requests[-1]
    assert (seen.path, seen.query) == (CHAT, f"api-version={API_VERSION}")  # no /v1 added, query kept
    assert seen.headers["api-key"] == KEY


@pytest.mark.parametrize("form", ["token", "provider"])
def test_entra_bearer_token_passes_through_and_stays_out_of_the_key(
    proxy: dict[str, Any], fake: FakeUpstream, form: str
) -> None:
    def client(token: str) -> openai.AzureOpenAI:
        if form == "token":
            return azure(proxy, azure_ad_token=token)
        return azure(proxy, azure_ad_token_provider=lambda: token)

    assert ask(client("entra-token-1")).headers["x-rubberduck-cache"] == "miss"
    seen = fake.requests[-1].headers
    assert seen["authorization"] == "Bearer entra-token-1"
    assert "api-key" not in seen
    # A credential never enters the cache key: another token (or an api-key) finds the same entry.
    assert ask(client("entra-token-2")).headers["x-rubberduck-cache"] == "hit"
    assert ask(azure(proxy)).headers["x-rubberduck-cache"] == "hit"
    assert fake.count("POST", CHAT) == 1


@pytest.mark.parametrize(
    "name", ["chat_completions_stream.yaml", "chat_completions_stream_usage_scrubbed.yaml"]
)
def test_chat_stream_miss_then_hit_replays_the_same_chunks(api: Api, fake: FakeUpstream, name: str) -> None:
    recording = recordings("azure", name)[0]
    fake.add("POST", STREAM_CHAT, recording, stream=True)
    sdk = azure(api.running_proxy("azure", fake.url))

    def run() -> tuple[str, list[dict[str, Any]]]:
        with sdk.chat.completions.with_streaming_response.create(
            model="test-openai",
            messages=[{"role": "user", "content": "What's the weather like in NYC right now?"}],
            stream=True,
        ) as response:
            return response.headers["x-rubberduck-cache"], [chunk.model_dump() for chunk in response.parse()]

    miss, first = run()
    hit, second = run()
    assert (miss, hit) == ("miss", "hit")
    assert fake.count("POST", STREAM_CHAT) == 1
    assert first == second
    # Azure's first chunk carries only the prompt filter results.
    assert first[0]["choices"] == [] and first[0]["id"] == ""
    assert first[0]["prompt_filter_results"]
    # A recorded chunk may even lack `delta` (Azure's role chunk with content_filter_results only).
    deltas = [chunk["choices"][0]["delta"] or {} for chunk in first if chunk["choices"]]
    assert "".join(delta.get("content") or "" for delta in deltas)
    assert len(first) == recording.body.count(b"data: {")


def test_stream_bytes_are_replayed_exactly(api: Api, fake: FakeUpstream) -> None:
    recording = recordings("azure", "chat_completions_stream.yaml")[0]
    fake.add("POST", STREAM_CHAT, recording, stream=True)
    url = proxy_url(api.running_proxy("azure", fake.url)) + STREAM_CHAT + f"?api-version={API_VERSION}"
    body = {"model": "test-openai", "messages": [{"role": "user", "content": "x"}], "stream": True}

    def raw() -> bytes:
        with httpx.stream("POST", url, json=body, headers={"api-key": KEY}, timeout=10) as response:
            return b"".join(response.iter_raw())

    assert raw() == raw() == recording.body
    assert fake.count("POST", STREAM_CHAT) == 1


def test_embeddings_miss_then_hit(proxy: dict[str, Any], fake: FakeUpstream) -> None:
    sdk = azure(proxy, api_version="2023-07-01-preview")
    first = sdk.embeddings.with_raw_response.create(model="test-openai", input="Hello world")
    second = sdk.embeddings.with_raw_response.create(model="test-openai", input="Hello world")
    assert (first.headers["x-rubberduck-cache"], second.headers["x-rubberduck-cache"]) == ("miss", "hit")
    vector = first.parse().data[0].embedding
    assert len(vector) > 10  # the SDK decoded the recorded base64 vector
    assert second.parse().data[0].embedding == vector
    assert fake.count("POST", EMBEDDINGS) == 1
    sdk.embeddings.create(model="test-openai", input="Goodbye world")
    assert fake.count("POST", EMBEDDINGS) == 2


def test_legacy_completions_route(api: Api, fake: FakeUpstream) -> None:
    path = "/openai/deployments/instruct/completions"
    fake.add(
        "POST",
        path,
        FakeResponse.json(
            200,
            {
                "id": "cmpl-1",
                "object": "text_completion",
                "created": 1,
                "model": "gpt-35-turbo-instruct",
                "choices": [{"text": " 4", "index": 0, "finish_reason": "stop", "logprobs": None}],
            },
        ),
    )
    sdk = azure(api.running_proxy("azure", fake.url))
    answers = [sdk.completions.with_raw_response.create(model="instruct", prompt="2+2=") for _ in range(2)]
    assert [a.headers["x-rubberduck-cache"] for a in answers] == ["miss", "hit"]
    assert answers[1].parse().choices[0].text == " 4"
    assert fake.count("POST", path) == 1


def test_responses_through_the_v1_route(api: Api, fake: FakeUpstream) -> None:
    fake.add("POST", RESPONSES_V1, recordings("azure", "responses_v1_route.yaml")[0])
    proxy = api.running_proxy("azure", fake.url)
    sdk = openai.OpenAI(base_url=proxy_url(proxy) + "/openai/v1/", api_key=KEY, max_retries=0)
    params: dict[str, Any] = {
        "model": "gpt-5.2-chat",
        "input": [{"role": "user", "content": "Say hello in one sentence."}],
    }
    first = sdk.responses.with_raw_response.create(**params)
    second = sdk.responses.with_raw_response.create(**params)
    assert (first.headers["x-rubberduck-cache"], second.headers["x-rubberduck-cache"]) == ("miss", "hit")
    assert first.parse().output_text == second.parse().output_text == "Hello! 😊"
    seen = fake.requests[-1]
    assert (seen.path, seen.query) == (RESPONSES_V1, "")
    assert seen.headers["authorization"] == f"Bearer {KEY}"
    assert fake.count("POST", RESPONSES_V1) == 1


def test_unknown_paths_pass_through_untouched(proxy: dict[str, Any], fake: FakeUpstream) -> None:
    fake.add("GET", "/openai/models", FakeResponse.json(200, {"object": "list", "data": []}))
    fake.add("POST", "/custom/route", FakeResponse.json(200, {"ok": True}))
    assert list(azure(proxy).models.list()) == []
    assert fake.requests[-1].query == f"api-version={API_VERSION}"
    response = httpx.post(proxy_url(proxy) + "/custom/route?x=1", json={"a": 1}, headers={"api-key": KEY})
    assert response.json() == {"ok": True}
    seen = fake.requests[-1]
    assert (seen.path, seen.query, seen.json()) == ("/custom/route", "x=1", {"a": 1})
    assert fake.count("GET", "/openai/models") == fake.count("POST", "/custom/route") == 1


def test_deployment_and_api_version_are_part_of_the_key(api: Api, fake: FakeUpstream) -> None:
    recording = recordings("azure", "chat_completions_nonstream_and_404.yaml")[0]
    for deployment in ("dep-a", "dep-b"):
        fake.add("POST", f"/openai/deployments/{deployment}/chat/completions", recording)
    proxy = api.running_proxy("azure", fake.url)

    def on(deployment: str, api_version: str = API_VERSION) -> str:
        # azure_deployment= puts the deployment in the path only: the body is the same for both.
        sdk = azure(proxy, api_version=api_version, azure_deployment=deployment)
        return str(ask(sdk, model="gpt-5-nano").headers["x-rubberduck-cache"])

    assert on("dep-a") == "miss"
    assert on("dep-b") == "miss"
    assert on("dep-a", api_version="2024-10-21") == "miss"
    assert on("dep-a") == on("dep-b") == on("dep-a", api_version="2024-10-21") == "hit"
    assert fake.count("POST", "/openai/deployments/dep-a/chat/completions") == 2
    assert fake.count("POST", "/openai/deployments/dep-b/chat/completions") == 1
    bodies = {request.body for request in fake.requests}
    assert len(bodies) == 1  # the only differences were the path and the query


def test_upstream_404_deployment_not_found_passes_through_uncached(api: Api, fake: FakeUpstream) -> None:
    error = recordings("azure", "chat_completions_nonstream_and_404.yaml")[1]
    fake.add("POST", CHAT, error)
    proxy = api.running_proxy("azure", fake.url)
    for _ in range(2):
        with pytest.raises(openai.NotFoundError) as raised:
            ask(azure(proxy))
        assert raised.value.code == "DeploymentNotFound"
        assert raised.value.type == "invalid_request_error"
        assert raised.value.response.headers["x-rubberduck-cache"] == "miss"
        assert raised.value.response.headers["apim-request-id"] == error.header("apim-request-id")
    assert fake.count("POST", CHAT) == 2
    raw = httpx.post(proxy_url(proxy) + CHAT, params={"api-version": API_VERSION}, json={"messages": []})
    assert (raw.status_code, raw.content) == (404, error.body)


def test_upstream_apim_401_passes_through_uncached(api: Api, fake: FakeUpstream) -> None:
    path = "/openai/deployments/test-deployment/embeddings"
    error = recordings("azure", "embeddings_error_401.yaml")[2]
    assert error.status == 401
    fake.add("POST", path, error)
    sdk = azure(api.running_proxy("azure", fake.url), api_version="2023-07-01-preview")
    for _ in range(2):
        with pytest.raises(openai.AuthenticationError) as raised:
            sdk.embeddings.create(model="test-deployment", input="Tell me a joke about opentelemetry")
        assert raised.value.code == "401"
        assert raised.value.body == {"code": "401", "message": raised.value.body["message"]}  # type: ignore[index]
    assert fake.count("POST", path) == 2


def test_unreachable_upstream_is_a_502_in_azure_format(api: Api) -> None:
    proxy = api.running_proxy("azure", "http://127.0.0.1:9")
    with pytest.raises(openai.InternalServerError) as raised:
        ask(azure(proxy))
    assert raised.value.status_code == 502
    body = raised.value.body
    assert isinstance(body, dict) and set(body) == {"code", "message"}  # the gateway's shape
    assert body["code"] == "502"
    assert raised.value.response.headers["apim-request-id"]


def test_slow_upstream_is_a_504_in_azure_format(api: Api, fake: FakeUpstream) -> None:
    fake.add("POST", CHAT, FakeResponse(hang=True))
    proxy = api.running_proxy("azure", fake.url, options={"upstream_timeout_seconds": 0.5})
    with pytest.raises(openai.InternalServerError) as raised:
        ask(azure(proxy))
    assert raised.value.status_code == 504
    assert raised.value.code == "Timeout"


def test_malformed_json_is_an_azure_400(proxy: dict[str, Any], fake: FakeUpstream) -> None:
    response = httpx.post(
        proxy_url(proxy) + CHAT, content=b'{"model": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert fake.count("POST", CHAT) == 0


def test_azure_proxy_without_upstream_url_is_a_422(api: Api) -> None:
    response = api.http.post("/api/proxies", json={"name": "azure", "provider": "azure"})
    assert response.status_code == 422, response.text
    assert "upstream_url" in [error["loc"][-1] for error in response.json()["detail"]]


def test_provider_snippet_runs_against_the_proxy(api: Api, proxy: dict[str, Any], fake: FakeUpstream) -> None:
    info = next(p for p in api.http.get("/api/providers").json() if p["name"] == "azure")
    code = info["snippet"].format(proxy_url=proxy_url(proxy), model="gpt-5-nano")
    assert 'api_version="2024-10-21"' in code
    exec(compile(code, "azure-snippet", "exec"), {})
    assert fake.count("POST", CHAT) == 1
    assert fake.requests[-1].query == "api-version=2024-10-21"
