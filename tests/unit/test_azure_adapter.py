"""AzureAdapter on its own: routes (operation, model, path) and native errors as the openai SDK reads them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from rubberduck.providers.azure import AzureAdapter
from rubberduck.providers.base import ErrorReply, RequestView, Route
from tests.fakes.upstream import FakeResponse, FakeUpstream

adapter = AzureAdapter()
CHAT = "/openai/deployments/gpt-4o/chat/completions"


def route(path: str, body: dict[str, Any] | None = None, method: str = "POST") -> Route:
    raw = json.dumps(body).encode() if body is not None else b""
    return adapter.route(RequestView(method, path, "api-version=2024-10-21", {}, raw, body))


@pytest.mark.parametrize(
    ("path", "operation", "model"),
    [
        (CHAT, "chat", "gpt-4o"),
        ("/openai/deployments/ada/embeddings", "embeddings", "ada"),
        ("/openai/deployments/instruct/completions", "completions", "instruct"),
        ("/openai/deployments/whisper/audio/transcriptions", "audio", "whisper"),
        ("/openai/deployments/dalle/images/generations", "images", "dalle"),
        ("/openai/deployments/gpt-4o/extensions/chat/completions", "chat", "gpt-4o"),
        ("//openai/deployments/test-openai/chat/completions", "chat", "test-openai"),  # recorded form
        ("/openai/deployments/my%20dep/chat/completions", "chat", "my dep"),
        # No deployment in the path: the body's model is the deployment.
        ("/openai/v1/chat/completions", "chat", "body-model"),
        ("/openai/v1/responses", "responses", "body-model"),
        ("/openai/v1/embeddings", "embeddings", "body-model"),
        ("/openai/responses", "responses", "body-model"),
        ("/openai/files", "files", "body-model"),
        ("/openai/something-new", None, "body-model"),
        ("/v1/chat/completions", None, "body-model"),  # not an Azure path: no guessing
    ],
)
def test_operation_and_model_come_from_the_path(path: str, operation: str | None, model: str) -> None:
    got = route(path, {"model": "body-model", "messages": []})
    assert (got.operation, got.model) == (operation, model)
    assert got.path == path  # forwarded exactly as sent: no /v1 prefix, no re-encoding, no slash folding


def test_stream_flag_and_bodyless_requests() -> None:
    assert route(CHAT, {"messages": [], "stream": True}).stream is True
    assert route(CHAT, {"messages": []}).stream is False
    listed = route("/openai/models", method="GET")
    assert (listed.operation, listed.model, listed.stream) == ("models", None, False)


def test_query_credentials_are_kept_out_of_the_key_but_api_version_is_not() -> None:
    assert {"api-key", "subscription-key"} <= adapter.secret_query_params
    assert "api-version" not in adapter.secret_query_params
    assert adapter.key_headers == ()  # api-key / Authorization never enter the cache key


def body_of(reply: ErrorReply) -> dict[str, Any]:
    parsed = json.loads(reply.body)
    assert list(parsed) == ["error"]
    return dict(parsed["error"])


def test_error_shapes_follow_azure() -> None:
    # The API gateway's shape (recorded APIM 401): code + message only, code is the status.
    assert body_of(adapter.error(401, "authentication", "denied")) == {"code": "401", "message": "denied"}
    assert body_of(adapter.error(429, "rate_limit", "slow down")) == {"code": "429", "message": "slow down"}
    assert body_of(adapter.error(502, "bad_gateway", "x")) == {"code": "502", "message": "x"}
    assert body_of(adapter.error(504, "timeout", "x"))["code"] == "Timeout"
    assert body_of(adapter.error(408, "request_timeout", "x")) == {"code": "Timeout", "message": "x"}
    assert body_of(adapter.error(403, "permission", "x")) == {"code": "PermissionDenied", "message": "x"}
    assert body_of(adapter.error(409, "some_future_kind", "x")) == {"code": "409", "message": "x"}
    # The recorded 404: type + code + message, in that order, no param.
    not_found = body_of(adapter.error(404, "not_found", "gone"))
    assert list(not_found.items()) == [
        ("type", "invalid_request_error"),
        ("code", "DeploymentNotFound"),
        ("message", "gone"),
    ]
    # The model service answers with OpenAI's shape.
    assert body_of(adapter.error(500, "server_error", "oops")) == {
        "message": "oops",
        "type": "server_error",
        "param": None,
        "code": None,
    }


def test_error_headers() -> None:
    reply = adapter.error(429, "rate_limit", "slow down", retry_after=2.5)
    headers = dict(reply.headers)
    assert headers[b"content-type"] == b"application/json"
    assert headers[b"retry-after"] == b"2"
    assert headers[b"retry-after-ms"] == b"2500"
    assert len(headers[b"apim-request-id"]) == 36  # a UUID, like every recorded Azure error
    assert b"retry-after" not in dict(adapter.error(500, "server_error", "x").headers)


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as fake:
        yield fake


def serve(upstream: FakeUpstream, reply: ErrorReply) -> None:
    headers = [(name.decode(), value.decode()) for name, value in reply.headers]
    upstream.add("POST", CHAT, FakeResponse(reply.status, headers, reply.body))


def sdk(upstream: FakeUpstream, max_retries: int = 0) -> openai.AzureOpenAI:
    return openai.AzureOpenAI(
        azure_endpoint=upstream.url, api_version="2024-10-21", api_key="k", max_retries=max_retries
    )


def chat(client: openai.AzureOpenAI) -> Any:
    return client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])


@pytest.mark.parametrize(
    ("status", "kind", "exception", "code"),
    [
        (400, "invalid_request", openai.BadRequestError, None),
        (401, "authentication", openai.AuthenticationError, "401"),
        (403, "permission", openai.PermissionDeniedError, "PermissionDenied"),
        (404, "not_found", openai.NotFoundError, "DeploymentNotFound"),
        (429, "rate_limit", openai.RateLimitError, "429"),
        (500, "server_error", openai.InternalServerError, None),
        (502, "bad_gateway", openai.InternalServerError, "502"),
        (503, "unavailable", openai.InternalServerError, "503"),
        (504, "timeout", openai.InternalServerError, "Timeout"),
    ],
)
def test_the_sdk_raises_its_usual_exception(
    upstream: FakeUpstream, status: int, kind: str, exception: type[openai.APIStatusError], code: str | None
) -> None:
    serve(upstream, adapter.error(status, kind, f"simulated {kind}"))
    with pytest.raises(exception) as raised:
        chat(sdk(upstream))
    assert raised.value.status_code == status
    assert raised.value.code == code
    assert raised.value.body["message"] == f"simulated {kind}"  # type: ignore[index]


def test_the_sdk_waits_for_retry_after_ms(upstream: FakeUpstream) -> None:
    # retry-after rounds up to 1 s; the SDK must take the 50 ms from retry-after-ms instead.
    serve(upstream, adapter.error(429, "rate_limit", "slow down", retry_after=0.05))
    started = time.monotonic()
    with pytest.raises(openai.RateLimitError):
        chat(sdk(upstream, max_retries=1))
    assert upstream.count("POST", CHAT) == 2
    assert time.monotonic() - started < 0.9
