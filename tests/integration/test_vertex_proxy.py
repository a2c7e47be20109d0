"""google-genai in Vertex AI mode through a Rubberduck proxy to a fake Vertex that answers with recordings."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from google import genai
from google.genai import errors, types
from google.oauth2.credentials import Credentials

from tests.fakes.cassette import Recording, recordings
from tests.fakes.upstream import FakeResponse, FakeUpstream
from tests.support import Api, proxy_url

PROJECT, LOCATION = "pydantic-ai", "global"  # what the recordings were made with
MODELS = f"/v1beta1/projects/{PROJECT}/locations/{LOCATION}/publishers/google/models"
GENERATE = f"{MODELS}/gemini-2.0-flash:generateContent"
STREAM = f"{MODELS}/gemini-3-flash-preview:streamGenerateContent"
COUNT = f"{MODELS}/gemini-2.5-flash:countTokens"
EMBED = f"{MODELS}/gemini-embedding-001:embedContent"
PREDICT = f"{MODELS}/text-embedding-004:predict"
# The shapes google-genai reads back (models.py _EmbedContentResponse_from_vertex): embedContent
# answers one `embedding`; the older text-embedding models answer `predictions[].embeddings`.
EMBED_REPLY = {"embedding": {"values": [0.25, -0.5, 0.75]}, "usageMetadata": {"promptTokenCount": 2}}
PREDICT_REPLY = {
    "predictions": [
        {"embeddings": {"values": [0.1, 0.2], "statistics": {"truncated": False, "token_count": 1}}},
        {"embeddings": {"values": [0.3, 0.4], "statistics": {"truncated": False, "token_count": 1}}},
    ],
    "metadata": {"billableCharacterCount": 4},
}


def recording(name: str, index: int = 0) -> Recording:
    return recordings("vertex", name)[index]


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream()
    upstream.add("POST", GENERATE, recording("vertex_generate_content"))
    upstream.add("POST", STREAM, recording("vertex_stream_generate_content_sse"), stream=True)
    upstream.add("POST", COUNT, recording("vertex_count_tokens"))
    upstream.add("POST", EMBED, FakeResponse.json(200, EMBED_REPLY))
    upstream.add("POST", PREDICT, FakeResponse.json(200, PREDICT_REPLY))
    with upstream:
        yield upstream


@pytest.fixture
def proxy(api: Api, fake: FakeUpstream) -> dict[str, Any]:
    return api.running_proxy("vertex", fake.url)


def client(proxy: dict[str, Any], token: str = "ya29.test", location: str = LOCATION) -> genai.Client:
    # A token without expiry is never refreshed (google-genai's get_token_from_credentials refreshes only
    # an expired or empty one), so no request ever leaves for Google's auth servers.
    return genai.Client(
        vertexai=True,
        project=PROJECT,
        location=location,
        credentials=Credentials(token=token),  # type: ignore[no-untyped-call]
        http_options=types.HttpOptions(base_url=proxy_url(proxy)),
    )


def cache_status(response: Any) -> str:
    return str(response.sdk_http_response.headers["x-rubberduck-cache"])


def generate(sdk: genai.Client) -> types.GenerateContentResponse:
    return sdk.models.generate_content(
        model="gemini-2.0-flash",
        contents="What is the capital of France?",
        config=types.GenerateContentConfig(system_instruction="You are a helpful chatbot."),
    )


def test_generate_content_miss_then_hit(proxy: dict[str, Any], fake: FakeUpstream) -> None:
    sdk = client(
        proxy
    )  # kept in a variable: google-genai closes its HTTP client when the Client is collected
    first, second = generate(sdk), generate(sdk)
    assert (cache_status(first), cache_status(second)) == ("miss", "hit")
    assert fake.count("POST", GENERATE) == 1
    assert first.text == second.text == "The capital of France is Paris.\n"
    exclude = {"sdk_http_response"}  # differs only by x-rubberduck-cache
    assert first.model_dump(exclude=exclude) == second.model_dump(exclude=exclude)
    assert second.usage_metadata is not None and second.usage_metadata.total_token_count == 21


def test_bearer_token_passes_through_and_stays_out_of_the_key(
    proxy: dict[str, Any], fake: FakeUpstream
) -> None:
    first_client = client(proxy, token="ya29.first")
    generate(first_client)
    seen = fake.requests[-1]
    assert seen.path == GENERATE  # google-genai keeps /v1beta1/projects/... with a custom base_url
    assert seen.headers["authorization"] == "Bearer ya29.first"
    second_client = client(proxy, token="ya29.second")
    assert cache_status(generate(second_client)) == "hit"
    assert fake.count("POST", GENERATE) == 1


def test_stream_miss_then_hit_with_identical_chunks(proxy: dict[str, Any], fake: FakeUpstream) -> None:
    sdk = client(proxy)
    config = types.GenerateContentConfig(response_modalities=["TEXT"])
    runs = []
    for _ in range(2):
        chunks = list(
            sdk.models.generate_content_stream(
                model="gemini-3-flash-preview", contents="Reply with exactly: OK", config=config
            )
        )
        runs.append(chunks)
    assert [cache_status(run[0]) for run in runs] == ["miss", "hit"]
    assert fake.count("POST", STREAM) == 1
    exclude = {"sdk_http_response"}
    assert [c.model_dump(exclude=exclude) for c in runs[0]] == [
        c.model_dump(exclude=exclude) for c in runs[1]
    ]
    assert "".join(chunk.text or "" for chunk in runs[1]) == "OK"
    assert fake.requests[-1].query == "alt=sse"

    # The replayed bytes are the recorded bytes, SSE framing (CRLF CRLF) included.
    request = fake.requests[-1]
    replay = httpx.post(
        proxy_url(proxy) + STREAM + "?alt=sse",
        content=request.body,
        headers={"content-type": "application/json", "authorization": "Bearer ya29.test"},
    )
    assert replay.headers["x-rubberduck-cache"] == "hit"
    assert replay.headers["content-type"] == "text/event-stream"
    assert replay.content == recording("vertex_stream_generate_content_sse").body


def test_alt_sse_query_is_part_of_the_cache_key(proxy: dict[str, Any], fake: FakeUpstream) -> None:
    url = proxy_url(proxy) + STREAM
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    statuses = [
        httpx.post(url + query, json=body).headers["x-rubberduck-cache"]
        for query in ("?alt=sse", "", "?alt=sse", "")
    ]
    assert statuses == ["miss", "miss", "hit", "hit"]
    assert fake.count("POST", STREAM) == 2


def test_count_tokens_miss_then_hit(proxy: dict[str, Any], fake: FakeUpstream) -> None:
    sdk = client(proxy)
    config = types.CountTokensConfig(
        system_instruction="You are a helpful chatbot.",
        tools=[types.Tool(google_search=types.GoogleSearch())],
        generation_config=types.GenerationConfig(),
    )
    counts = [
        sdk.models.count_tokens(
            model="gemini-2.5-flash", contents="What is the capital of France?", config=config
        )
        for _ in range(2)
    ]
    assert [cache_status(count) for count in counts] == ["miss", "hit"]
    assert counts[0].total_tokens == counts[1].total_tokens == 13
    assert fake.count("POST", COUNT) == 1


def test_embed_content_and_predict_miss_then_hit(proxy: dict[str, Any], fake: FakeUpstream) -> None:
    sdk = client(proxy)
    embedded = [sdk.models.embed_content(model="gemini-embedding-001", contents="hello") for _ in range(2)]
    assert [cache_status(e) for e in embedded] == ["miss", "hit"]
    assert embedded[1].embeddings is not None and embedded[1].embeddings[0].values == [0.25, -0.5, 0.75]
    assert fake.count("POST", EMBED) == 1
    assert fake.requests[-1].json() == {"content": {"parts": [{"text": "hello"}], "role": "user"}}

    predicted = [sdk.models.embed_content(model="text-embedding-004", contents=["a", "b"]) for _ in range(2)]
    assert [cache_status(p) for p in predicted] == ["miss", "hit"]
    assert predicted[1].embeddings is not None
    assert [e.values for e in predicted[1].embeddings] == [[0.1, 0.2], [0.3, 0.4]]
    assert fake.count("POST", PREDICT) == 1


def test_upstream_429_passes_through_uncached(api: Api, fake: FakeUpstream) -> None:
    error = recordings("vertex", "gemini_error_429_resource_exhausted")[0]
    fake.add("POST", GENERATE, error)
    proxy = api.running_proxy("vertex", fake.url)
    sdk = client(proxy)
    for _ in range(2):
        with pytest.raises(errors.ClientError) as raised:
            generate(sdk)
        assert raised.value.code == 429 and raised.value.status == "RESOURCE_EXHAUSTED"
        assert raised.value.details == json.loads(error.body)  # the upstream body, unchanged
    assert fake.count("POST", GENERATE) == 2


def test_unreachable_upstream_is_a_google_502(api: Api) -> None:
    proxy = api.running_proxy("vertex", "http://127.0.0.1:9")
    sdk = client(proxy)
    with pytest.raises(errors.ServerError) as raised:
        generate(sdk)
    assert raised.value.code == 502 and raised.value.status == "UNAVAILABLE"
    assert raised.value.details["error"]["code"] == 502


def test_upstream_timeout_is_a_google_504(api: Api, fake: FakeUpstream) -> None:
    fake.add("POST", GENERATE, FakeResponse(hang=True))
    proxy = api.running_proxy("vertex", fake.url, options={"upstream_timeout_seconds": 0.5})
    sdk = client(proxy)
    with pytest.raises(errors.ServerError) as raised:
        generate(sdk)
    assert raised.value.code == 504 and raised.value.status == "DEADLINE_EXCEEDED"


def test_without_upstream_url_a_bad_location_is_refused_locally(api: Api) -> None:
    # No upstream_url: the host comes from the location, so a location that is not a plain DNS label
    # must never reach the network (it would let a client pick the proxy's target host).
    proxy = api.running_proxy("vertex", None)
    sdk = client(proxy, location="evil.example.com")
    with pytest.raises(errors.ClientError) as raised:
        generate(sdk)
    assert raised.value.code == 400 and raised.value.status == "INVALID_ARGUMENT"
    assert "location" in (raised.value.message or "")

    # A path that names no location cannot be routed either: a Google-format 400, not a crash.
    response = httpx.post(proxy_url(proxy) + "/v1/foo:bar", json={})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_malformed_json_is_a_google_400(proxy: dict[str, Any], fake: FakeUpstream) -> None:
    response = httpx.post(
        proxy_url(proxy) + GENERATE, content=b"{nope", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": 400,
        "message": response.json()["error"]["message"],
        "status": "INVALID_ARGUMENT",
    }
    assert fake.count("POST", GENERATE) == 0
