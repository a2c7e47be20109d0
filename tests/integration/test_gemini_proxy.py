"""google-genai with an API key (Gemini Developer API) through a Rubberduck proxy to a fake Gemini API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from google import genai
from google.genai import errors, types

from tests.fakes.cassette import Recording, recordings
from tests.fakes.upstream import FakeResponse, FakeUpstream
from tests.support import Api, proxy_url

API_KEY = "AIza-test-key"
# google-genai 3.x calls /v1; 1.x (and the recordings) used /v1beta. Both must work.
GENERATE_V1 = "/v1/models/gemini-3-pro-preview:generateContent"
GENERATE_V1BETA = "/v1beta/models/gemini-3-pro-preview:generateContent"
STREAM = "/v1/models/gemini-2.0-flash-exp:streamGenerateContent"
COUNT = "/v1/models/gemini-2.0-flash:countTokens"
EMBED = "/v1/models/gemini-embedding-001:batchEmbedContents"
COUNT_REPLY = {"totalTokens": 5, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 5}]}
# The Gemini API answers batchEmbedContents with one embedding per request (models.py _from_mldev).
EMBED_REPLY = {"embeddings": [{"values": [0.5, 0.25]}, {"values": [-0.5, 1.0]}]}


def recording(name: str, index: int = 0) -> Recording:
    return recordings("vertex", name)[index]


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream()
    for path in (GENERATE_V1, GENERATE_V1BETA):
        upstream.add("POST", path, recording("gemini_generate_content"))
    upstream.add("POST", STREAM, recording("gemini_stream_generate_content_sse"), stream=True)
    upstream.add("POST", COUNT, FakeResponse.json(200, COUNT_REPLY))
    upstream.add("POST", EMBED, FakeResponse.json(200, EMBED_REPLY))
    with upstream:
        yield upstream


@pytest.fixture
def proxy(api: Api, fake: FakeUpstream) -> dict[str, Any]:
    return api.running_proxy("gemini", fake.url)


def client(proxy: dict[str, Any], api_key: str = API_KEY, api_version: str | None = None) -> genai.Client:
    options = types.HttpOptions(base_url=proxy_url(proxy), api_version=api_version)
    return genai.Client(api_key=api_key, http_options=options)


def cache_status(response: Any) -> str:
    return str(response.sdk_http_response.headers["x-rubberduck-cache"])


def generate(sdk: genai.Client, model: str = "gemini-3-pro-preview") -> types.GenerateContentResponse:
    return sdk.models.generate_content(model=model, contents="Say hello")


def test_generate_content_miss_then_hit(proxy: dict[str, Any], fake: FakeUpstream) -> None:
    sdk = client(
        proxy
    )  # kept in a variable: google-genai closes its HTTP client when the Client is collected
    first, second = generate(sdk), generate(sdk)
    assert (cache_status(first), cache_status(second)) == ("miss", "hit")
    assert fake.count("POST", GENERATE_V1) == 1
    assert first.text == second.text == "Hello! How can I help you today?"
    exclude = {"sdk_http_response"}
    assert first.model_dump(exclude=exclude) == second.model_dump(exclude=exclude)


def test_v1beta_is_routed_and_is_another_entry(proxy: dict[str, Any], fake: FakeUpstream) -> None:
    v1, v1beta = client(proxy), client(proxy, api_version="v1beta")
    assert [cache_status(generate(sdk)) for sdk in (v1, v1beta, v1beta)] == ["miss", "miss", "hit"]
    assert fake.count("POST", GENERATE_V1) == fake.count("POST", GENERATE_V1BETA) == 1


def test_api_key_header_passes_through_and_stays_out_of_the_key(
    proxy: dict[str, Any], fake: FakeUpstream
) -> None:
    first = client(proxy, api_key="AIza-first")
    generate(first)
    assert fake.requests[-1].headers["x-goog-api-key"] == "AIza-first"
    assert "authorization" not in fake.requests[-1].headers
    second = client(proxy, api_key="AIza-second")
    assert cache_status(generate(second)) == "hit"
    assert fake.count("POST", GENERATE_V1) == 1


def test_key_query_param_passes_through_but_not_into_the_cache_key(
    proxy: dict[str, Any], fake: FakeUpstream
) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "Say hello"}]}]}
    url = proxy_url(proxy) + GENERATE_V1
    first = httpx.post(url + "?key=AIza-one", json=body)
    second = httpx.post(url + "?key=AIza-two", json=body)
    assert (first.headers["x-rubberduck-cache"], second.headers["x-rubberduck-cache"]) == ("miss", "hit")
    assert fake.count("POST", GENERATE_V1) == 1
    assert fake.requests[-1].query == "key=AIza-one"  # the upstream needs it to authenticate
    assert first.content == second.content


def test_stream_miss_then_hit_with_identical_chunks(proxy: dict[str, Any], fake: FakeUpstream) -> None:
    sdk = client(proxy)
    config = types.GenerateContentConfig(system_instruction="You are a helpful chatbot.", temperature=0.0)
    runs = [
        list(
            sdk.models.generate_content_stream(
                model="gemini-2.0-flash-exp", contents="What is the capital of France?", config=config
            )
        )
        for _ in range(2)
    ]
    assert [cache_status(run[0]) for run in runs] == ["miss", "hit"]
    assert fake.count("POST", STREAM) == 1
    exclude = {"sdk_http_response"}
    assert [c.model_dump(exclude=exclude) for c in runs[0]] == [
        c.model_dump(exclude=exclude) for c in runs[1]
    ]
    assert len(runs[1]) == 3
    assert "".join(chunk.text or "" for chunk in runs[1]) == "The capital of France is Paris.\n"

    # Raw bytes: the hit replays the recorded SSE body exactly, event by event.
    request = fake.requests[-1]
    with httpx.stream(
        "POST",
        proxy_url(proxy) + STREAM + "?alt=sse",
        content=request.body,
        headers={"content-type": "application/json", "x-goog-api-key": API_KEY},
    ) as replay:
        pieces = list(replay.iter_raw())
        assert replay.headers["x-rubberduck-cache"] == "hit"
    assert b"".join(pieces) == recording("gemini_stream_generate_content_sse").body
    assert len(pieces) == 3  # one SSE event per chunk, as the upstream sent them


def test_json_array_stream_without_alt_sse_replays_gzip_bytes(api: Api, fake: FakeUpstream) -> None:
    legacy = recording("gemini_stream_generate_content_json_array_gzip")
    fake.add("POST", legacy.path, legacy, stream=True)
    proxy = api.running_proxy("gemini", fake.url)
    url = proxy_url(proxy) + legacy.path
    headers = {"content-type": "application/json", "x-goog-api-key": API_KEY}
    answers = [httpx.post(url, content=legacy.request_body, headers=headers) for _ in range(2)]
    assert [a.headers["x-rubberduck-cache"] for a in answers] == ["miss", "hit"]
    assert fake.count("POST", legacy.path) == 1
    assert answers[1].headers["content-encoding"] == "gzip"
    assert answers[0].content == answers[1].content  # decoded by httpx: still gzip on the wire
    assert answers[1].json()[0]["candidates"]


def test_count_tokens_and_embed_content_miss_then_hit(proxy: dict[str, Any], fake: FakeUpstream) -> None:
    sdk = client(proxy)
    counts = [sdk.models.count_tokens(model="gemini-2.0-flash", contents="hello") for _ in range(2)]
    assert [cache_status(c) for c in counts] == ["miss", "hit"]
    assert counts[1].total_tokens == 5
    assert fake.count("POST", COUNT) == 1

    embedded = [sdk.models.embed_content(model="gemini-embedding-001", contents=["a", "b"]) for _ in range(2)]
    assert [cache_status(e) for e in embedded] == ["miss", "hit"]
    assert embedded[1].embeddings is not None
    assert [e.values for e in embedded[1].embeddings] == [[0.5, 0.25], [-0.5, 1.0]]
    assert fake.count("POST", EMBED) == 1


def test_api_key_invalid_on_stream_passes_through_uncached(api: Api, fake: FakeUpstream) -> None:
    error = recording("gemini_error_400_api_key_invalid_on_stream")
    fake.add("POST", STREAM, error)  # a plain JSON body, although labelled text/event-stream
    proxy = api.running_proxy("gemini", fake.url)
    sdk = client(proxy, api_key="AIza-wrong")
    for _ in range(2):
        with pytest.raises(errors.ClientError) as raised:
            list(sdk.models.generate_content_stream(model="gemini-2.0-flash-exp", contents="hi"))
        assert raised.value.code == 400 and raised.value.status == "INVALID_ARGUMENT"
        assert raised.value.details == json.loads(error.body)
        assert raised.value.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    assert fake.count("POST", STREAM) == 2


@pytest.mark.parametrize(
    ("name", "status", "code"),
    [
        ("gemini_error_404_not_found_embed", "NOT_FOUND", 404),
        ("gemini_error_429_resource_exhausted", "RESOURCE_EXHAUSTED", 429),
    ],
)
def test_upstream_4xx_passes_through_uncached(
    api: Api, fake: FakeUpstream, name: str, status: str, code: int
) -> None:
    error = recording(name)
    fake.add("POST", EMBED, error)
    fake.add("POST", GENERATE_V1, error)
    proxy = api.running_proxy("gemini", fake.url)
    sdk = client(proxy)
    calls = {
        404: lambda: sdk.models.embed_content(model="gemini-embedding-001", contents=["a", "b"]),
        429: lambda: generate(sdk),
    }
    for _ in range(2):
        with pytest.raises(errors.ClientError) as raised:
            calls[code]()
        assert (raised.value.code, raised.value.status) == (code, status)
        assert raised.value.details == json.loads(error.body)
    assert fake.count("POST", EMBED) + fake.count("POST", GENERATE_V1) == 2


def test_unreachable_upstream_is_a_google_502(api: Api) -> None:
    proxy = api.running_proxy("gemini", "http://127.0.0.1:9")
    sdk = client(proxy)
    with pytest.raises(errors.ServerError) as raised:
        generate(sdk)
    assert raised.value.code == 502 and raised.value.status == "UNAVAILABLE"
    assert raised.value.details["error"]["code"] == 502


@pytest.mark.parametrize(
    ("status", "google_status", "exception"),
    [(429, "RESOURCE_EXHAUSTED", errors.ClientError), (503, "UNAVAILABLE", errors.ServerError)],
)
def test_simulated_errors_are_google_errors(
    api: Api, proxy: dict[str, Any], fake: FakeUpstream, status: int, google_status: str, exception: type
) -> None:
    failure = {"errors": [{"status": status, "rate": 1.0, "retry_after_s": 7}]}
    assert api.http.put(f"/api/proxies/{proxy['id']}/failure", json=failure).status_code == 200
    sdk = client(proxy)
    with pytest.raises(exception) as raised:
        generate(sdk)
    assert (raised.value.code, raised.value.status) == (status, google_status)
    retry_info = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}
    assert raised.value.details["error"]["details"] == [retry_info]
    assert fake.count("POST", GENERATE_V1) == 0
