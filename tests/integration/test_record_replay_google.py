"""Record, then replay offline, through google-genai (Gemini API and Vertex AI) and Google's JSON-array stream."""

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
from tests.fakes.upstream import FakeUpstream
from tests.integration.recording_support import KEY_HEADER, log_rows, set_cache
from tests.support import Api, proxy_url

GEMINI_GENERATE = "/v1/models/gemini-3-pro-preview:generateContent"
GEMINI_STREAM = "/v1/models/gemini-2.0-flash-exp:streamGenerateContent"
VERTEX_MODELS = "/v1beta1/projects/pydantic-ai/locations/global/publishers/google/models"
VERTEX_GENERATE = f"{VERTEX_MODELS}/gemini-2.0-flash:generateContent"
VERTEX_STREAM = f"{VERTEX_MODELS}/gemini-3-flash-preview:streamGenerateContent"


def recording(name: str) -> Recording:
    return recordings("vertex", name)[0]


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream()
    upstream.add("POST", GEMINI_GENERATE, recording("gemini_generate_content"))
    upstream.add("POST", GEMINI_STREAM, recording("gemini_stream_generate_content_sse"), stream=True)
    upstream.add("POST", VERTEX_GENERATE, recording("vertex_generate_content"))
    upstream.add("POST", VERTEX_STREAM, recording("vertex_stream_generate_content_sse"), stream=True)
    with upstream:
        yield upstream


def gemini(base: str) -> genai.Client:
    return genai.Client(api_key="AIza-test-key", http_options=types.HttpOptions(base_url=base))


def vertex(base: str) -> genai.Client:
    return genai.Client(
        vertexai=True,
        project="pydantic-ai",
        location="global",
        credentials=Credentials(token="ya29.test"),  # type: ignore[no-untyped-call]
        http_options=types.HttpOptions(base_url=base),
    )


def headers_of(response: Any) -> Any:
    return response.sdk_http_response.headers


def dumped(responses: list[Any]) -> list[dict[str, Any]]:
    return [response.model_dump(exclude={"sdk_http_response"}) for response in responses]


def run_both(sdk: genai.Client, generate_model: str, stream_model: str, text: str = "Say hello") -> Any:
    answer = sdk.models.generate_content(model=generate_model, contents=text)
    chunks = list(sdk.models.generate_content_stream(model=stream_model, contents=text))
    return answer, chunks


@pytest.mark.parametrize(
    ("provider", "make", "models", "paths"),
    [
        (
            "gemini",
            gemini,
            ("gemini-3-pro-preview", "gemini-2.0-flash-exp"),
            (GEMINI_GENERATE, GEMINI_STREAM),
        ),
        ("vertex", vertex, ("gemini-2.0-flash", "gemini-3-flash-preview"), (VERTEX_GENERATE, VERTEX_STREAM)),
    ],
)
def test_recorded_then_replayed_with_the_upstream_gone(
    api: Api, fake: FakeUpstream, provider: str, make: Any, models: tuple[str, str], paths: tuple[str, str]
) -> None:
    proxy = api.running_proxy(provider, fake.url)
    sdk = make(proxy_url(proxy) + "/_ns/google-suite")  # google-genai keeps the base URL's path
    recorded, recorded_chunks = run_both(sdk, *models)
    assert [fake.count("POST", path) for path in paths] == [1, 1]  # the prefix never reached the upstream
    assert headers_of(recorded)["x-rubberduck-cache"] == "miss"
    set_cache(api, proxy["id"], mode="replay")
    fake.stop()

    replayed, replayed_chunks = run_both(sdk, *models)
    assert (
        headers_of(replayed)["x-rubberduck-cache"]
        == headers_of(replayed_chunks[0])["x-rubberduck-cache"]
        == "hit"
    )
    assert headers_of(replayed)[KEY_HEADER] == headers_of(recorded)[KEY_HEADER]
    assert dumped([replayed]) == dumped([recorded])
    assert dumped(replayed_chunks) == dumped(recorded_chunks) and replayed_chunks


@pytest.mark.parametrize("provider", ["gemini", "vertex"])
def test_replay_miss_is_a_not_found_with_a_replay_miss_reason(
    api: Api, fake: FakeUpstream, provider: str
) -> None:
    proxy = api.running_proxy(provider, fake.url)
    sdk = (gemini if provider == "gemini" else vertex)(proxy_url(proxy))
    model = "gemini-3-pro-preview" if provider == "gemini" else "gemini-2.0-flash"
    sdk.models.generate_content(model=model, contents="Say hello")
    set_cache(api, proxy["id"], mode="replay")
    with pytest.raises(errors.ClientError) as caught:  # google-genai retries 408/429/5xx only
        sdk.models.generate_content(model=model, contents="Say goodbye")
    error = caught.value
    assert (error.code, error.status) == (404, "NOT_FOUND")  # a real google.rpc status
    details = error.details["error"]["details"]
    assert details == [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "REPLAY_MISS", "domain": "rubberduck"}
    ]
    assert error.message is not None
    assert 'contents[0].parts[0].text: recorded "Say hello" ≠ sent "Say goodbye"' in error.message
    rows = log_rows(api, proxy["id"], 2, settle=0.5)
    assert (
        len(rows) == 2
        and rows[-1]["error"] == f"replay_miss: contents[0].parts[0].text (nearest {rows[0]['cache_key']}#1)"
    )
    assert rows[-1]["cache_status"] == "miss" and "goodbye" not in json.dumps(rows[-1])


def test_json_array_stream_replays_the_recorded_gzip_bytes_offline(api: Api, fake: FakeUpstream) -> None:
    legacy = recording("gemini_stream_generate_content_json_array_gzip")
    fake.add("POST", legacy.path, legacy, stream=True)
    proxy = api.running_proxy("gemini", fake.url)
    url = proxy_url(proxy) + legacy.path
    headers = {"content-type": "application/json", "x-goog-api-key": "AIza-test-key"}

    def fetch() -> tuple[httpx.Response, list[bytes]]:
        with httpx.stream("POST", url, content=legacy.request_body, headers=headers, timeout=10) as response:
            return response, list(response.iter_raw())

    first, first_raw = fetch()
    set_cache(api, proxy["id"], mode="replay")
    fake.stop()
    second, second_raw = fetch()
    assert (first.headers["x-rubberduck-cache"], second.headers["x-rubberduck-cache"]) == ("miss", "hit")
    assert second.headers["content-encoding"] == "gzip"
    assert b"".join(second_raw) == b"".join(first_raw)  # the very bytes sent, still gzip
    assert second_raw[0].startswith(b"\x1f\x8b")
