"""Vertex AI and Gemini adapters: routes, upstream choice, error bodies, secrets kept out of keys and logs."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest
from google.genai import errors

from rubberduck.cache.key import cache_key
from rubberduck.faults.state import NO_FAULTS, FaultState
from rubberduck.providers.base import ERROR_KINDS, STATUS_KINDS, RequestView, UpstreamSetupError
from rubberduck.providers.gemini import GeminiAdapter
from rubberduck.providers.google_common import GOOGLE_STATUS, google_error
from rubberduck.providers.vertex import VertexAdapter, location_of, upstream_for_location
from rubberduck.proxy.exchange import Exchange
from rubberduck.proxy.respond import log_row
from rubberduck.proxy.runtime import ProxyRuntime

VERTEX_PATH = (
    "/v1beta1/projects/p/locations/{location}/publishers/google/models/gemini-2.0-flash:generateContent"
)


def view(path: str, query: str = "", body: Any = None) -> RequestView:
    raw = orjson.dumps(body) if body is not None else b""
    return RequestView("POST", path, query, {"content-type": "application/json"}, raw, body)


@pytest.mark.parametrize(
    ("location", "upstream"),
    [
        ("us-central1", "https://us-central1-aiplatform.googleapis.com"),
        ("europe-west4", "https://europe-west4-aiplatform.googleapis.com"),
        ("global", "https://aiplatform.googleapis.com"),
        ("us", "https://aiplatform.us.rep.googleapis.com"),
        ("eu", "https://aiplatform.eu.rep.googleapis.com"),
    ],
)
def test_vertex_upstream_follows_the_location(location: str, upstream: str) -> None:
    assert upstream_for_location(location) == upstream
    request = view(VERTEX_PATH.format(location=location), "alt=sse")
    adapter = VertexAdapter()
    prepared = adapter.prepare_upstream(request, adapter.route(request), None, [])
    assert prepared.url == upstream + request.path + "?alt=sse"


@pytest.mark.parametrize(
    "location", ["evil.example.com", "host:8080", "a@b", "US-CENTRAL1", "-x", "x" * 70, "us%2Ecentral1"]
)
def test_a_location_that_is_not_a_dns_label_is_refused(location: str) -> None:
    request = view(VERTEX_PATH.format(location=location))
    adapter = VertexAdapter()
    with pytest.raises(UpstreamSetupError) as raised:
        adapter.prepare_upstream(request, adapter.route(request), None, [])
    assert (raised.value.status, raised.value.kind) == (400, "invalid_request")


def test_vertex_upstream_url_overrides_the_location() -> None:
    request = view(VERTEX_PATH.format(location="us-central1"))
    adapter = VertexAdapter()
    prepared = adapter.prepare_upstream(request, adapter.route(request), "http://vertex.internal:8080/", [])
    assert prepared.url == "http://vertex.internal:8080" + request.path
    assert VertexAdapter.default_upstream is None and VertexAdapter.upstream_required is False


def test_vertex_express_mode_goes_to_the_global_endpoint() -> None:
    request = view("/v1beta1/publishers/google/models/gemini-2.0-flash:generateContent")
    adapter = VertexAdapter()
    url = adapter.prepare_upstream(request, adapter.route(request), None, []).url
    assert url == "https://aiplatform.googleapis.com" + request.path


def test_vertex_path_without_location_is_an_upstream_setup_error() -> None:
    adapter = VertexAdapter()
    request = view("/v1/models/gemini-2.0-flash:generateContent")
    with pytest.raises(UpstreamSetupError) as raised:
        adapter.prepare_upstream(request, adapter.route(request), None, [])
    assert raised.value.status == 400
    reply = adapter.error(raised.value.status, raised.value.kind, raised.value.message)
    assert orjson.loads(reply.body)["error"]["status"] == "INVALID_ARGUMENT"


def test_location_is_read_from_the_decoded_path() -> None:
    assert (
        location_of("/v1/projects/p/locations/us-east5/publishers/anthropic/models/c:rawPredict")
        == "us-east5"
    )
    assert location_of("/v1/projects/p/locations/asia-south1") == "asia-south1"
    assert (
        location_of("/v1/projects/p/locations/us%2Dcentral1/publishers/google/models/m:predict")
        == "us-central1"
    )
    assert location_of("/v1/projects/p/locations/eu:listModels") == "eu"
    assert location_of("/v1beta1/publishers/google/models/m:generateContent") is None


def test_gemini_keeps_path_and_query_for_the_default_upstream() -> None:
    request = view("/v1beta/models/gemini-2.0-flash:streamGenerateContent", "alt=sse&key=AIza-secret")
    adapter = GeminiAdapter()
    url = adapter.prepare_upstream(request, adapter.route(request), None, []).url
    assert url == (
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:streamGenerateContent"
        "?alt=sse&key=AIza-secret"
    )


@pytest.mark.parametrize(
    ("path", "operation", "model", "stream"),
    [
        (VERTEX_PATH.format(location="global"), "generateContent", "gemini-2.0-flash", False),
        (
            "/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.5-pro:streamGenerateContent",
            "streamGenerateContent",
            "gemini-2.5-pro",
            True,
        ),
        ("/v1beta1/projects/p/locations/l/publishers/google/models/m:countTokens", "countTokens", "m", False),
        (
            "/v1/projects/p/locations/l/publishers/google/models/gemini-embedding-001:embedContent",
            "embedContent",
            "gemini-embedding-001",
            False,
        ),
        (
            "/v1/projects/p/locations/l/publishers/google/models/text-embedding-004:predict",
            "predict",
            "text-embedding-004",
            False,
        ),
        (
            "/v1/projects/p/locations/l/publishers/anthropic/models/claude-x@1:streamRawPredict",
            "streamRawPredict",
            "claude-x@1",
            True,
        ),
        ("/v1/models/gemini-2.0-flash:generateContent", "generateContent", "gemini-2.0-flash", False),
        (
            "/v1beta/models/gemini-2.0-flash%3AstreamGenerateContent",
            "streamGenerateContent",
            "gemini-2.0-flash",
            True,
        ),
        (
            "/v1beta/models/gemini-embedding-001:batchEmbedContents",
            "batchEmbedContents",
            "gemini-embedding-001",
            False,
        ),
        ("/v1beta/tunedModels/my-model:generateContent", "generateContent", "my-model", False),
        ("/v1beta/models", "models", None, False),
        ("/v1beta/models/gemini-2.0-flash", "models", "gemini-2.0-flash", False),
        ("/v1beta1/projects/p/locations/l/cachedContents/abc", "cachedContents", None, False),
        ("/upload/v1beta/files", "files", None, False),
        ("/", None, None, False),
    ],
)
def test_route_names_operation_model_and_stream(
    path: str, operation: str | None, model: str | None, stream: bool
) -> None:
    for adapter in (VertexAdapter(), GeminiAdapter()):
        route = adapter.route(view(path, body={"contents": []}))
        assert (route.path, route.operation, route.model, route.stream) == (path, operation, model, stream)


def test_openai_compatible_vertex_endpoint_takes_model_and_stream_from_the_body() -> None:
    path = "/v1/projects/p/locations/us-central1/endpoints/openapi/chat/completions"
    route = VertexAdapter().route(view(path, body={"model": "google/gemini-2.0-flash", "stream": True}))
    assert (route.model, route.stream) == ("google/gemini-2.0-flash", True)


@pytest.mark.parametrize(
    ("status", "kind", "google_status", "exception"),
    [
        (400, "invalid_request", "INVALID_ARGUMENT", errors.ClientError),
        (401, "authentication", "UNAUTHENTICATED", errors.ClientError),
        (403, "permission", "PERMISSION_DENIED", errors.ClientError),
        (404, "not_found", "NOT_FOUND", errors.ClientError),
        (413, "request_too_large", "INVALID_ARGUMENT", errors.ClientError),
        (429, "rate_limit", "RESOURCE_EXHAUSTED", errors.ClientError),
        (500, "server_error", "INTERNAL", errors.ServerError),
        (502, "bad_gateway", "UNAVAILABLE", errors.ServerError),
        (503, "unavailable", "UNAVAILABLE", errors.ServerError),
        (504, "timeout", "DEADLINE_EXCEEDED", errors.ServerError),
        (503, "overloaded", "UNAVAILABLE", errors.ServerError),
        (408, "request_timeout", "DEADLINE_EXCEEDED", errors.ClientError),
        (409, "conflict", "ABORTED", errors.ClientError),
        (422, "unprocessable", "INVALID_ARGUMENT", errors.ClientError),
        (529, "overloaded", "UNAVAILABLE", errors.ServerError),
        (409, "unknown-kind", "ABORTED", errors.ClientError),
        (599, "unknown-kind", "INTERNAL", errors.ServerError),
    ],
)
def test_error_bodies_are_googles_and_raise_the_sdk_exception(
    status: int, kind: str, google_status: str, exception: type[errors.APIError]
) -> None:
    for adapter in (VertexAdapter(), GeminiAdapter()):
        reply = adapter.error(status, kind, "went wrong")
        assert reply.status == status
        assert dict(reply.headers)[b"content-type"] == b"application/json; charset=UTF-8"
        body = orjson.loads(reply.body)
        assert body == {"error": {"code": status, "message": "went wrong", "status": google_status}}
        with pytest.raises(exception) as raised:
            errors.APIError.raise_error(reply.status, body, None)
        assert (raised.value.code, raised.value.status, raised.value.message) == (
            status,
            google_status,
            "went wrong",
        )


def test_every_error_kind_has_its_own_google_status() -> None:
    assert set(ERROR_KINDS) <= set(GOOGLE_STATUS)  # none falls back to the status-code guess
    for status, kind in STATUS_KINDS.items():
        body = orjson.loads(google_error(status, kind, "m").body)
        assert body["error"]["status"] == GOOGLE_STATUS[kind]


def test_retry_after_becomes_a_retry_info_detail() -> None:
    body = orjson.loads(google_error(429, "rate_limit", "slow down", retry_after=2.4).body)
    assert body["error"]["details"] == [
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2s"}
    ]


def test_api_key_query_param_stays_out_of_the_cache_key() -> None:
    for adapter in (VertexAdapter(), GeminiAdapter()):

        def key(query: str, secrets: frozenset[str] = adapter.secret_query_params) -> str:
            return cache_key(
                "POST", "/v1/models/m:generateContent", query, {"contents": []}, secret_query_params=secrets
            )

        assert key("alt=sse&key=AIza-one") == key("alt=sse&key=AIza-two") == key("alt=sse")
        assert key("alt=sse&access_token=ya29.one") == key("alt=sse")
        assert key("alt=sse") != key("")  # the stream framing is part of the key
        assert key("key=AIza-one", frozenset()) != key("key=AIza-two", frozenset())  # the rule does the work


def test_api_key_query_param_is_never_logged() -> None:
    adapter = GeminiAdapter()
    request = view("/v1/models/m:generateContent", "key=AIza-very-secret", {"contents": []})
    runtime = ProxyRuntime(1, uuid.uuid4(), adapter, None, 30.0, 1 << 20, 1 << 20, FaultState(NO_FAULTS))
    exchange = Exchange(
        1, request, [(b"x-goog-api-key", b"AIza-header-secret")], "127.0.0.1", adapter.route(request)
    )
    row = orjson.dumps(log_row(exchange, runtime))
    assert b"AIza-very-secret" not in row and b"AIza-header-secret" not in row
    assert b"generateContent" in row  # the row does describe this request


def test_snippets_render_with_proxy_url_and_model() -> None:
    for adapter in (VertexAdapter(), GeminiAdapter()):
        text = adapter.snippet.format(proxy_url="http://127.0.0.1:8001", model="gemini-2.0-flash")
        assert 'base_url="http://127.0.0.1:8001"' in text and 'model="gemini-2.0-flash"' in text
        compile(text, "snippet", "exec")
    assert "vertexai=True" in VertexAdapter.snippet and "api_key=" in GeminiAdapter.snippet
