"""Each provider's SDK raises the exception it raises against the real service for simulated errors,
and retries a simulated 429 until it succeeds (OpenAI and Anthropic are covered in test_failure_simulation)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import openai
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from google import genai
from google.genai import errors, types
from google.oauth2.credentials import Credentials

from tests.fakes.cassette import recordings
from tests.fakes.upstream import FakeUpstream
from tests.integration.test_failure_simulation import _seed_failing_then_passing
from tests.support import Api, proxy_url

STATUSES = (400, 401, 403, 404, 429, 500, 503, 529)
AZURE_CLASSES = {
    400: openai.BadRequestError,
    401: openai.AuthenticationError,
    403: openai.PermissionDeniedError,
    404: openai.NotFoundError,
    429: openai.RateLimitError,
    500: openai.InternalServerError,
    503: openai.InternalServerError,
    529: openai.InternalServerError,
}
VERTEX_PATH = (
    "/v1beta1/projects/p/locations/us-central1/publishers/google/models/gemini-2.0-flash:generateContent"
)
GEMINI_PATH = "/v1/models/gemini-2.0-flash:generateContent"


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream()
    chat = recordings("azure", "chat_completions_nonstream_and_404.yaml")[0]
    upstream.add("POST", "/openai/deployments/gpt-4o/chat/completions", chat)
    upstream.add("POST", VERTEX_PATH, recordings("vertex", "vertex_generate_content.yaml")[0])
    upstream.add("POST", GEMINI_PATH, recordings("vertex", "gemini_generate_content.yaml")[0])
    with upstream:
        yield upstream


def azure(proxy: dict[str, Any], retries: int = 0) -> openai.AzureOpenAI:
    return openai.AzureOpenAI(
        azure_endpoint=proxy_url(proxy), api_version="2024-10-21", api_key="az-key", max_retries=retries
    )


def vertex(proxy: dict[str, Any], retry: types.HttpRetryOptions | None = None) -> genai.Client:
    return genai.Client(
        vertexai=True,
        project="p",
        location="us-central1",
        credentials=Credentials(token="ya29.test"),  # type: ignore[no-untyped-call]
        http_options=types.HttpOptions(base_url=proxy_url(proxy), retry_options=retry),
    )


def gemini(proxy: dict[str, Any], retry: types.HttpRetryOptions | None = None) -> genai.Client:
    return genai.Client(
        api_key="g-key", http_options=types.HttpOptions(base_url=proxy_url(proxy), retry_options=retry)
    )


def test_azure_sdk_classes_and_retry(api: Api, fake: FakeUpstream) -> None:
    proxy = api.running_proxy("azure", fake.url)
    api.set_failure(proxy["id"], allow_header_faults=True)
    messages: Any = [{"role": "user", "content": "hi"}]
    for status in STATUSES:
        with pytest.raises(AZURE_CLASSES[status]) as raised:
            azure(proxy).chat.completions.create(
                model="gpt-4o", messages=messages, extra_headers={"x-rubberduck-fault": str(status)}
            )
        assert raised.value.status_code == status
        assert raised.value.response.headers["content-type"].startswith("application/json")
    seed = _seed_failing_then_passing(0.5)
    api.set_failure(proxy["id"], seed=seed, errors=[{"status": 429, "rate": 0.5, "retry_after_s": 0.2}])
    reply = azure(proxy, retries=2).chat.completions.with_raw_response.create(
        model="gpt-4o", messages=messages
    )
    assert reply.http_request.headers["x-stainless-retry-count"] == "1"
    assert reply.parse().choices


@pytest.mark.parametrize(("provider", "make"), [("vertex", vertex), ("gemini", gemini)])
def test_google_sdk_classes_and_retry(api: Api, fake: FakeUpstream, provider: str, make: Any) -> None:
    proxy = api.running_proxy(provider, fake.url)
    api.set_failure(proxy["id"], allow_header_faults=True)
    for status in STATUSES:
        config = types.GenerateContentConfig(
            http_options=types.HttpOptions(headers={"x-rubberduck-fault": str(status)})
        )
        expected = errors.ClientError if status < 500 else errors.ServerError
        client = make(proxy)  # keep a reference: google-genai closes its HTTP client when collected
        with pytest.raises(expected) as raised:
            client.models.generate_content(model="gemini-2.0-flash", contents="hi", config=config)
        assert raised.value.code == status
        assert raised.value.status  # Google's status name, e.g. RESOURCE_EXHAUSTED
    seed = _seed_failing_then_passing(0.5)
    api.set_failure(proxy["id"], seed=seed, errors=[{"status": 429, "rate": 0.5}])
    retry = types.HttpRetryOptions(attempts=3, initial_delay=0.05, max_delay=0.2, http_status_codes=[429])
    client = make(proxy, retry)
    assert client.models.generate_content(model="gemini-2.0-flash", contents="hi").text


BEDROCK_CODES = {
    400: "ValidationException",
    401: "UnrecognizedClientException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
    529: "ServiceUnavailableException",
}


def test_boto3_raises_client_errors_with_bedrock_codes_and_retries(api: Api) -> None:
    with FakeUpstream() as upstream:
        converse = recordings("bedrock", "converse.yaml")[0]
        upstream.add("POST", "/model/amazon.nova-lite-v1%3A0/converse", converse)
        proxy = api.running_proxy("bedrock", upstream.url)
        api.set_failure(proxy["id"], allow_header_faults=True)
        messages: Any = [{"role": "user", "content": [{"text": "hi"}]}]
        for status, code in BEDROCK_CODES.items():
            client = bedrock(proxy, attempts=1)

            def force(request: Any, status: int = status, **_: Any) -> None:
                request.headers["x-rubberduck-fault"] = str(status)

            client.meta.events.register("before-sign.bedrock-runtime.Converse", force)
            with pytest.raises(ClientError) as raised:
                client.converse(modelId="amazon.nova-lite-v1:0", messages=messages)
            assert raised.value.response["Error"]["Code"] == code
            assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
        seed = _seed_failing_then_passing(0.5)
        api.set_failure(proxy["id"], seed=seed, errors=[{"status": 429, "rate": 0.5, "retry_after_s": 0.1}])
        answer = bedrock(proxy, attempts=3).converse(modelId="amazon.nova-lite-v1:0", messages=messages)
        assert answer["ResponseMetadata"]["RetryAttempts"] == 1
        assert answer["output"]["message"]["content"]


def bedrock(proxy: dict[str, Any], attempts: int) -> Any:
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=proxy_url(proxy),
        region_name="us-east-1",
        aws_access_key_id="AKIACLIENTDUMMY00001",
        aws_secret_access_key="dummy",
        config=Config(retries={"max_attempts": attempts, "mode": "standard"}),
    )
