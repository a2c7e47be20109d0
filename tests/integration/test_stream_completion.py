"""A stream is complete at the provider's final event: cached then, whatever the client does next.

The fake upstreams pace their streams like real providers (tests/fakes/upstream.py): a few
milliseconds between events and 50 ms between the last event and the end of the body. The openai SDK
hangs up at `data: [DONE]`, inside that gap; LiteLLM's Anthropic handler and langchain-aws stop at
the final event too. Each case below reads a stream the way its official SDK (or such a wrapper) does,
then asks again: the second answer must come from the cache, and the first one's log row must be a
plain 200 with no error.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import anthropic
import boto3
import httpx
import openai
import pytest
from botocore.config import Config
from google import genai
from google.genai import types
from google.oauth2.credentials import Credentials

from tests.fakes import aws
from tests.fakes.cassette import Recording, recordings
from tests.fakes.eventstream import split_frames
from tests.fakes.upstream import FakeRequest, FakeResponse, FakeUpstream
from tests.support import Api, proxy_url

OPENAI_CHAT = "/v1/chat/completions"
RESPONSES = "/v1/responses"
AZURE_CHAT = "/openai/deployments/test-openai/chat/completions"
AZURE_VERSION = "2024-10-21"
MESSAGES = "/v1/messages"
BEDROCK_MODEL = "us.anthropic.claude-3-sonnet-20240229-v1:0"
BEDROCK_PATH = "/model/us.anthropic.claude-3-sonnet-20240229-v1%3A0"
GEMINI_STREAM = "/v1/models/gemini-2.0-flash-exp:streamGenerateContent"
VERTEX_MODELS = "/v1beta1/projects/pydantic-ai/locations/global/publishers/google/models"
VERTEX_STREAM = f"{VERTEX_MODELS}/gemini-3-flash-preview:streamGenerateContent"
GOOGLE_KEY = "AIza-test-key"


@dataclass(frozen=True)
class Case:
    """One provider's stream: where the fake serves it, how its SDK reads it, and a raw request for it."""

    provider: str
    path: str  # the upstream path, as the fake matches it
    recording: Recording
    read: Callable[[str], str]  # reads the stream with the SDK from a proxy URL; returns x-rubberduck-cache
    raw_target: str  # path and query a raw client sends
    raw_body: bytes
    raw_headers: dict[str, str] = field(default_factory=dict)
    frames: bool = False  # an AWS event stream (one frame per chunk) rather than SSE
    options: dict[str, Any] = field(default_factory=dict)

    def response(self) -> FakeResponse:
        rec = self.recording
        if self.frames:
            return FakeResponse(rec.status, list(rec.headers), chunks=split_frames(rec.body))
        return FakeResponse(rec.status, list(rec.headers), rec.body)


def read_openai_chat(url: str) -> str:
    sdk = openai.OpenAI(base_url=url + "/v1", api_key="sk-test", max_retries=0)
    stream = sdk.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "What is 1231 * 2331?"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    assert list(stream)  # the SDK stops at [DONE] and closes the connection
    return stream.response.headers["x-rubberduck-cache"]


def read_openai_responses(url: str) -> str:
    sdk = openai.OpenAI(base_url=url + "/v1", api_key="sk-test", max_retries=0)
    stream = sdk.responses.create(model="gpt-5.5", input="ping", stream=True)
    with stream:
        types_seen = []
        for event in stream:  # stop at the terminal event, as the SDK's stream helpers do
            types_seen.append(event.type)
            if event.type == "response.completed":
                break
    assert types_seen[0] == "response.created" and types_seen[-1] == "response.completed"
    return stream.response.headers["x-rubberduck-cache"]


def read_azure_chat(url: str) -> str:
    sdk = openai.AzureOpenAI(azure_endpoint=url, api_version=AZURE_VERSION, api_key="k", max_retries=0)
    stream = sdk.chat.completions.create(
        model="test-openai", messages=[{"role": "user", "content": "Weather in NYC?"}], stream=True
    )
    assert list(stream)
    return stream.response.headers["x-rubberduck-cache"]


def read_anthropic(url: str) -> str:
    sdk = anthropic.Anthropic(base_url=url, api_key="sk-ant-test", max_retries=0)
    stream = sdk.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=64,
        messages=[{"role": "user", "content": "Hello"}],
        stream=True,
    )
    with stream:
        for event in stream:  # LiteLLM's Anthropic handler stops at message_stop
            if event.type == "message_stop":
                break
        else:
            raise AssertionError("no message_stop")
    return stream.response.headers["x-rubberduck-cache"]


def bedrock_client(url: str) -> Any:
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="AKIACLIENTDUMMY00001",
        aws_secret_access_key="client-dummy-secret",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )


def read_converse_stream(url: str) -> str:
    response = bedrock_client(url).converse_stream(
        modelId=BEDROCK_MODEL, **json.loads(recordings("bedrock", "converse_stream")[0].request_body)
    )
    stream = response["stream"]
    events = []
    for event in stream:  # the metadata event is the last one
        events.append(event)
        if "metadata" in event:
            break
    stream.close()
    assert "messageStop" in events[-2] and events[-1]["metadata"]["usage"]["outputTokens"] > 0
    return str(response["ResponseMetadata"]["HTTPHeaders"]["x-rubberduck-cache"])


def read_invoke_stream(url: str) -> str:
    rec = recordings("bedrock", "invoke_with_response_stream_anthropic")[0]
    response = bedrock_client(url).invoke_model_with_response_stream(
        modelId=BEDROCK_MODEL, body=rec.request_body
    )
    body = response["body"]
    for event in body:  # langchain-aws stops at the chunk that says message_stop
        if json.loads(event["chunk"]["bytes"])["type"] == "message_stop":
            break
    else:
        raise AssertionError("no message_stop")
    body.close()
    return str(response["ResponseMetadata"]["HTTPHeaders"]["x-rubberduck-cache"])


def read_google(sdk: genai.Client, model: str) -> str:
    chunks = list(sdk.models.generate_content_stream(model=model, contents="What is the capital of France?"))
    assert chunks[-1].candidates and chunks[-1].candidates[0].finish_reason
    assert chunks[-1].sdk_http_response is not None and chunks[-1].sdk_http_response.headers is not None
    return chunks[-1].sdk_http_response.headers["x-rubberduck-cache"]


def read_gemini(url: str) -> str:
    sdk = genai.Client(api_key=GOOGLE_KEY, http_options=types.HttpOptions(base_url=url))
    return read_google(sdk, "gemini-2.0-flash-exp")


def read_vertex(url: str) -> str:
    sdk = genai.Client(
        vertexai=True,
        project="pydantic-ai",
        location="global",
        credentials=Credentials(token="ya29.test"),  # type: ignore[no-untyped-call]
        http_options=types.HttpOptions(base_url=url),
    )
    return read_google(sdk, "gemini-3-flash-preview")


def chat_body(**extra: Any) -> bytes:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "raw"}], "stream": True}
    return json.dumps({**body, **extra}).encode()


JSON = {"content-type": "application/json"}
GOOGLE_BODY = json.dumps({"contents": [{"role": "user", "parts": [{"text": "raw"}]}]}).encode()
BEDROCK_OPTIONS = {"aws_region": "us-east-1"}  # unsigned raw requests name no region

CASES = [
    Case(
        "openai",
        OPENAI_CHAT,
        recordings("openai", "chat_completions_stream_tools")[0],
        read_openai_chat,
        OPENAI_CHAT,
        chat_body(),
        JSON,
    ),
    Case(
        "openai",
        RESPONSES,
        recordings("openai", "responses_stream")[0],
        read_openai_responses,
        RESPONSES,
        json.dumps({"model": "gpt-5.5", "input": "raw", "stream": True}).encode(),
        JSON,
    ),
    Case(
        "azure",
        AZURE_CHAT,
        recordings("azure", "chat_completions_stream")[0],
        read_azure_chat,
        f"{AZURE_CHAT}?api-version={AZURE_VERSION}",
        chat_body(),
        {**JSON, "api-key": "k"},
    ),
    Case(
        "anthropic",
        MESSAGES,
        recordings("anthropic", "messages_stream")[0],
        read_anthropic,
        MESSAGES,
        json.dumps({"model": "m", "max_tokens": 9, "messages": [], "stream": True}).encode(),
        JSON,
    ),
    Case(
        "bedrock",
        f"{BEDROCK_PATH}/converse-stream",
        recordings("bedrock", "converse_stream")[0],
        read_converse_stream,
        f"{BEDROCK_PATH}/converse-stream",
        b'{"messages": []}',
        JSON,
        frames=True,
        options=BEDROCK_OPTIONS,
    ),
    Case(
        "bedrock",
        f"{BEDROCK_PATH}/invoke-with-response-stream",
        recordings("bedrock", "invoke_with_response_stream_anthropic")[0],
        read_invoke_stream,
        f"{BEDROCK_PATH}/invoke-with-response-stream",
        b'{"messages": []}',
        JSON,
        frames=True,
        options=BEDROCK_OPTIONS,
    ),
    Case(
        "gemini",
        GEMINI_STREAM,
        recordings("vertex", "gemini_stream_generate_content_sse")[0],
        read_gemini,
        f"{GEMINI_STREAM}?alt=sse",
        GOOGLE_BODY,
        {**JSON, "x-goog-api-key": GOOGLE_KEY},
    ),
    Case(
        "vertex",
        VERTEX_STREAM,
        recordings("vertex", "vertex_stream_generate_content_sse")[0],
        read_vertex,
        f"{VERTEX_STREAM}?alt=sse",
        GOOGLE_BODY,
        {**JSON, "authorization": "Bearer ya29.test"},
    ),
]
IDS = ["openai-chat", "openai-responses", "azure-chat", "anthropic", "converse", "invoke", "gemini", "vertex"]


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream() as upstream:  # paced: 2 ms between events, 50 ms before the end of the body
        yield upstream


def serve(fake: FakeUpstream, case: Case, response: FakeResponse | None = None) -> None:
    answer = response or case.response()
    if case.frames:  # a fake Bedrock answers only requests the proxy re-signed

        async def signed(request: FakeRequest) -> FakeResponse:
            problem = aws.signature_problem(request)
            return aws.invalid_signature(problem) if problem else answer

        fake.add_handler("POST", case.path, signed)
    else:
        fake.add("POST", case.path, answer, stream=True)


def log_rows(api: Api, proxy_id: int, count: int) -> list[dict[str, Any]]:
    """The proxy's log rows, oldest first, once `count` are there."""
    deadline = time.monotonic() + 10
    while True:
        items = api.http.get("/api/logs", params={"proxy_id": proxy_id, "limit": 50}).json()["items"]
        if len(items) >= count or time.monotonic() > deadline:
            return sorted(items, key=lambda row: str(row["created_at"]))
        time.sleep(0.05)


def assert_first_cached_cleanly(api: Api, proxy: dict[str, Any]) -> None:
    first, second = log_rows(api, proxy["id"], 2)[:2]
    assert (first["status"], first["cache_status"], first["error"]) == (200, "miss", None)
    assert (second["status"], second["cache_status"], second["error"]) == (200, "hit", None)


def raw_read_to_final_event(proxy: dict[str, Any], case: Case) -> tuple[str, bytes]:
    """Read until the whole recorded stream is in, then hang up at once (httpx closes the connection)."""
    expected = case.recording.body
    received = b""
    with httpx.stream(
        "POST",
        proxy_url(proxy) + case.raw_target,
        content=case.raw_body,
        headers=case.raw_headers,
        timeout=10,
    ) as response:
        assert response.status_code == 200
        for piece in response.iter_raw():
            received += piece
            if len(received) >= len(expected):
                break
        return response.headers["x-rubberduck-cache"], received


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_a_stream_read_by_its_sdk_is_cached(api: Api, fake: FakeUpstream, case: Case) -> None:
    serve(fake, case)
    # A first read through another proxy: an SDK's first parse of a model type can take longer than
    # the tail gap, which would hide the hang-up this test is about.
    case.read(proxy_url(api.running_proxy(case.provider, fake.url, options=case.options)))
    fake.reset_counts()
    proxy = api.running_proxy(case.provider, fake.url, options=case.options)
    url = proxy_url(proxy)
    assert case.read(url) == "miss"
    assert case.read(url) == "hit"
    assert fake.count("POST", case.path) == 1
    assert_first_cached_cleanly(api, proxy)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_a_raw_client_that_hangs_up_right_after_the_final_event_is_cached(
    api: Api, fake: FakeUpstream, case: Case
) -> None:
    serve(fake, case)
    proxy = api.running_proxy(case.provider, fake.url, options=case.options)
    assert raw_read_to_final_event(proxy, case) == ("miss", case.recording.body)
    assert raw_read_to_final_event(proxy, case) == ("hit", case.recording.body)
    assert fake.count("POST", case.path) == 1
    assert_first_cached_cleanly(api, proxy)


@pytest.mark.parametrize("case", [CASES[0], CASES[3], CASES[4]], ids=["openai-chat", "anthropic", "converse"])
def test_without_a_tail_gap_the_stream_is_cached_too(api: Api, case: Case) -> None:
    with FakeUpstream(event_gap=0, tail_gap=0) as fake:
        serve(fake, case)
        proxy = api.running_proxy(case.provider, fake.url, options=case.options)
        url = proxy_url(proxy)
        assert [case.read(url) for _ in range(3)] == ["miss", "hit", "hit"]
        assert fake.count("POST", case.path) == 1
        assert_first_cached_cleanly(api, proxy)


@pytest.mark.parametrize("case", [CASES[0], CASES[5], CASES[6]], ids=["openai-chat", "invoke", "gemini"])
def test_a_client_that_hangs_up_before_the_final_event_leaves_nothing_cached(
    api: Api, fake: FakeUpstream, case: Case
) -> None:
    rec = case.recording
    pieces = split_frames(rec.body) if case.frames else None
    response = FakeResponse(rec.status, list(rec.headers), rec.body, chunks=pieces)
    # Hold after the first two events, so the proxy has seen neither the final event nor the end.
    if case.frames:
        serve_held(fake, case, response)
    else:
        fake.add("POST", case.path, response, stream=True, hold_after=2)
    proxy = api.running_proxy(case.provider, fake.url, options=case.options)
    target, body, headers = proxy_url(proxy) + case.raw_target, case.raw_body, case.raw_headers
    with httpx.stream("POST", target, content=body, headers=headers, timeout=10) as first:
        assert first.headers["x-rubberduck-cache"] == "miss"
        next(first.iter_raw())  # one event, then hang up
    rows = log_rows(api, proxy["id"], 1)
    assert (rows[0]["status"], rows[0]["error"]) == (200, "client disconnected")
    fake.release()
    with httpx.stream("POST", target, content=body, headers=headers, timeout=10) as second:
        assert second.headers["x-rubberduck-cache"] == "miss"
        assert second.read() == rec.body
    assert fake.count("POST", case.path) == 2


def serve_held(fake: FakeUpstream, case: Case, response: FakeResponse) -> None:
    async def signed(request: FakeRequest) -> FakeResponse:
        problem = aws.signature_problem(request)
        return aws.invalid_signature(problem) if problem else response

    fake.add_handler("POST", case.path, signed, hold_after=2)


def test_bytes_after_the_final_event_reach_a_client_that_stays_and_the_replay(
    api: Api, fake: FakeUpstream
) -> None:
    rec = recordings("openai", "chat_completions_stream_tools")[0]
    trailer = b": the body goes on after [DONE]\n\n"
    fake.add("POST", OPENAI_CHAT, FakeResponse(200, list(rec.headers), rec.body + trailer), stream=True)
    proxy = api.running_proxy("openai", fake.url)
    for expected in ("miss", "hit"):
        response = httpx.post(proxy_url(proxy) + OPENAI_CHAT, content=chat_body(), headers=JSON, timeout=10)
        assert response.headers["x-rubberduck-cache"] == expected
        assert response.content == rec.body + trailer  # byte for byte, the trailer included
    assert fake.count("POST", OPENAI_CHAT) == 1


def test_a_failed_response_is_final_but_never_cached(api: Api, fake: FakeUpstream) -> None:
    events = [
        b'event: response.created\ndata: {"type":"response.created","sequence_number":0,'
        b'"response":{"id":"resp_1","object":"response","status":"in_progress","output":[]}}\n\n',
        b'event: response.failed\ndata: {"type":"response.failed","sequence_number":1,'
        b'"response":{"id":"resp_1","object":"response","status":"failed","output":[],'
        b'"error":{"code":"server_error","message":"The model failed."}}}\n\n',
    ]
    headers = [("content-type", "text/event-stream; charset=utf-8")]
    fake.add("POST", RESPONSES, FakeResponse(200, headers, chunks=events))
    proxy = api.running_proxy("openai", fake.url)
    case = Case("openai", RESPONSES, Recording("POST", RESPONSES, "", b"", 200, headers, b"".join(events)),
                read_openai_responses, RESPONSES, CASES[1].raw_body, JSON)  # fmt: skip
    for _ in range(2):
        assert raw_read_to_final_event(proxy, case) == ("miss", b"".join(events))
    assert fake.count("POST", RESPONSES) == 2
    rows = log_rows(api, proxy["id"], 2)
    assert [(row["status"], row["cache_status"], row["error"]) for row in rows] == [(200, "miss", None)] * 2


def test_after_the_final_event_a_hang_up_ends_the_request_without_waiting_for_the_upstream(
    api: Api, fake: FakeUpstream
) -> None:
    case = CASES[0]
    rec = case.recording
    fake.add("POST", case.path, FakeResponse(200, list(rec.headers), rec.body, tail_gap=20.0), stream=True)
    proxy = api.running_proxy(case.provider, fake.url)
    started = time.monotonic()
    assert raw_read_to_final_event(proxy, case) == ("miss", rec.body)
    rows = log_rows(api, proxy["id"], 1)
    # The proxy stopped reading the upstream (whose body would end 20 s later) as soon as the client left.
    assert time.monotonic() - started < 10
    assert (rows[0]["status"], rows[0]["error"]) == (200, None) and rows[0]["latency_ms"] < 10_000
    assert raw_read_to_final_event(proxy, case) == ("hit", rec.body)
    assert fake.count("POST", case.path) == 1
