"""Every cache mode, for all six providers through their official SDKs, plain and streamed.

The fake upstreams answer `answer 1`, `answer 2`, … (one number per upstream call), each in its provider's
wire format: JSON, SSE, Google's SSE and JSON-array streams, Bedrock's event-stream frames (signature
checked). So an SDK result tells which upstream call it came from, and the fake's request count proves
what was and was not forwarded.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import boto3
import httpx
import openai
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from google import genai
from google.genai import errors, types
from google.oauth2.credentials import Credentials

from tests.fakes import aws
from tests.fakes.eventstream import event_frame
from tests.fakes.upstream import FakeRequest, FakeResponse, FakeUpstream
from tests.integration.recording_support import KEY_HEADER, recorded_entries, rewind, set_cache
from tests.integration.test_bedrock_proxy import MODEL, MODEL_PATH
from tests.support import Api, proxy_url

GOOGLE_MODEL = "gemini-2.0-flash"
VERTEX_MODELS = "/v1beta1/projects/pydantic-ai/locations/global/publishers/google/models"
SSE = [("content-type", "text/event-stream")]

# ---- what the fakes answer, in each wire format ---------------------------------------------------------


def sse(events: list[tuple[str | None, Any]], line_end: str = "\n") -> FakeResponse:
    chunks = [
        (
            (f"event: {name}{line_end}" if name else "") + f"data: {json.dumps(data)}{line_end}{line_end}"
        ).encode()
        for name, data in events
    ]
    return FakeResponse(200, SSE, chunks=chunks)


def openai_answer(text: str, stream: bool) -> FakeResponse:
    head = {"id": "chatcmpl-1", "created": 1, "model": "gpt-4o-mini"}
    if not stream:
        message = {"role": "assistant", "content": text}
        usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
        choice = {"index": 0, "message": message, "finish_reason": "stop"}
        return FakeResponse.json(
            200, {**head, "object": "chat.completion", "choices": [choice], "usage": usage}
        )
    chunk = {**head, "object": "chat.completion.chunk"}
    deltas = [({"role": "assistant", "content": ""}, None), ({"content": text}, None), ({}, "stop")]
    response = sse(
        [(None, {**chunk, "choices": [{"index": 0, "delta": d, "finish_reason": f}]}) for d, f in deltas]
    )
    assert response.chunks is not None
    response.chunks.append(b"data: [DONE]\n\n")
    return response


def anthropic_answer(text: str, stream: bool) -> FakeResponse:
    message: dict[str, Any] = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
    }
    message |= {"stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 1, "output_tokens": 1}}
    if not stream:
        final = {**message, "content": [{"type": "text", "text": text}], "stop_reason": "end_turn"}
        return FakeResponse.json(200, final)
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": {**message, "content": []}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 1}},
        {"type": "message_stop"},
    ]
    return sse([(event["type"], event) for event in events])


def bedrock_answer(text: str, stream: bool) -> FakeResponse:
    usage = {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}
    if not stream:
        message = {"role": "assistant", "content": [{"text": text}]}
        answer = {"output": {"message": message}, "stopReason": "end_turn", "usage": usage}
        return FakeResponse.json(200, {**answer, "metrics": {"latencyMs": 1}})
    events: list[tuple[str, dict[str, Any]]] = [
        ("messageStart", {"role": "assistant"}),
        ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": text}}),
        ("contentBlockStop", {"contentBlockIndex": 0}),
        ("messageStop", {"stopReason": "end_turn"}),
        ("metadata", {"usage": usage, "metrics": {"latencyMs": 1}}),
    ]
    frames = [event_frame(name, json.dumps(payload).encode()) for name, payload in events]
    return FakeResponse(200, [("content-type", "application/vnd.amazon.eventstream")], chunks=frames)


def google_answer(text: str, stream: bool, array: bool) -> FakeResponse:
    def candidate(part: str, finish: str | None) -> dict[str, Any]:
        found = {"content": {"role": "model", "parts": [{"text": part}]}, "index": 0}
        return {"candidates": [found | ({"finishReason": finish} if finish else {})], "modelVersion": "g"}

    if not stream:
        return FakeResponse.json(200, candidate(text, "STOP"))
    pieces = [candidate("Well: ", None), candidate(text, "STOP")]
    if array:  # without alt=sse: one JSON array, sent piece by piece
        chunks = [b"[" + json.dumps(pieces[0]).encode(), b",\r\n" + json.dumps(pieces[1]).encode(), b"]"]
        return FakeResponse(200, [("content-type", "application/json")], chunks=chunks)
    return sse([(None, piece) for piece in pieces], line_end="\r\n")


# ---- calling through each official SDK: (x-rubberduck-cache, x-rubberduck-cache-key, comparable result) ----

Outcome = tuple[str, str, Any]


def call_openai(sdk: openai.OpenAI, stream: bool, content: str) -> Outcome:
    model = "gpt-4o-mini"  # for Azure: the deployment
    messages: Any = [{"role": "user", "content": content}]
    if not stream:
        raw = sdk.chat.completions.with_raw_response.create(model=model, messages=messages)
        return raw.headers["x-rubberduck-cache"], raw.headers[KEY_HEADER], raw.parse().model_dump()
    with sdk.chat.completions.with_streaming_response.create(
        model=model, messages=messages, stream=True
    ) as response:
        chunks = [chunk.model_dump() for chunk in response.parse()]
        return response.headers["x-rubberduck-cache"], response.headers[KEY_HEADER], chunks


def call_anthropic(sdk: anthropic.Anthropic, stream: bool, content: str) -> Outcome:
    params: Any = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": content}],
    }
    if not stream:
        raw = sdk.messages.with_raw_response.create(**params)
        return raw.headers["x-rubberduck-cache"], raw.headers[KEY_HEADER], raw.parse().model_dump()
    with sdk.messages.with_streaming_response.create(**params, stream=True) as response:
        events = [event.model_dump() for event in response.parse()]
        return response.headers["x-rubberduck-cache"], response.headers[KEY_HEADER], events


def call_bedrock(sdk: Any, stream: bool, content: str) -> Outcome:
    messages = [{"role": "user", "content": [{"text": content}]}]
    answer = (sdk.converse_stream if stream else sdk.converse)(modelId=MODEL, messages=messages)
    headers = answer.pop("ResponseMetadata")["HTTPHeaders"]
    result = [dict(event) for event in answer["stream"]] if stream else answer
    return headers["x-rubberduck-cache"], headers[KEY_HEADER], result


def call_google(sdk: genai.Client, stream: bool, content: str) -> Outcome:
    if stream:
        chunks = list(sdk.models.generate_content_stream(model=GOOGLE_MODEL, contents=content))
    else:
        chunks = [sdk.models.generate_content(model=GOOGLE_MODEL, contents=content)]
    assert chunks and chunks[0].sdk_http_response and chunks[0].sdk_http_response.headers
    headers = chunks[0].sdk_http_response.headers
    dumps = [chunk.model_dump(exclude={"sdk_http_response"}) for chunk in chunks]
    return headers["x-rubberduck-cache"], headers[KEY_HEADER], dumps


def call_google_array(sdk: httpx.Client, stream: bool, content: str) -> Outcome:
    """Google's JSON-array stream, which google-genai never asks for (it sends alt=sse): plain HTTP."""
    verb = "streamGenerateContent" if stream else "generateContent"
    body = {"contents": [{"role": "user", "parts": [{"text": content}]}]}
    response = sdk.post(f"/v1/models/{GOOGLE_MODEL}:{verb}", json=body)
    if response.status_code != 200:
        raise LookupError(response.text)
    result = response.json()
    assert isinstance(result, list) == stream
    return response.headers["x-rubberduck-cache"], response.headers[KEY_HEADER], result


def client(name: str, proxy: dict[str, Any]) -> Any:
    base = proxy_url(proxy)
    if name == "openai":
        return openai.OpenAI(base_url=base + "/v1", api_key="sk-test", max_retries=0)
    if name == "azure":
        return openai.AzureOpenAI(azure_endpoint=base, api_version="2024-02-01", api_key="az", max_retries=0)
    if name == "anthropic":
        return anthropic.Anthropic(base_url=base, api_key="sk-ant-test", max_retries=0)
    if name == "bedrock":
        retries = Config(retries={"max_attempts": 1, "mode": "standard"})
        keys = {"aws_access_key_id": "AKIACLIENTDUMMY00001", "aws_secret_access_key": "client-dummy"}
        return boto3.client(
            "bedrock-runtime", endpoint_url=base, region_name="us-east-1", config=retries, **keys
        )
    if name == "gemini-json-array":
        return httpx.Client(base_url=base, headers={"x-goog-api-key": "AIza-test-key"})
    options = types.HttpOptions(base_url=base)
    if name == "gemini":
        return genai.Client(api_key="AIza-test-key", http_options=options)
    token = Credentials(token="ya29.test")  # type: ignore[no-untyped-call]
    return genai.Client(
        vertexai=True, project="pydantic-ai", location="global", credentials=token, http_options=options
    )


CHAT, AZURE_CHAT = "/v1/chat/completions", "/openai/deployments/gpt-4o-mini/chat/completions"
GEMINI, VERTEX = f"/v1/models/{GOOGLE_MODEL}:", f"{VERTEX_MODELS}/{GOOGLE_MODEL}:"
GOOGLE = ("generateContent", "streamGenerateContent")
# name -> (the fake's routes, its answer in that provider's wire format, the call through the SDK)
PROVIDERS: dict[str, tuple[list[str], Callable[[str, bool], FakeResponse], Callable[..., Outcome]]] = {
    "openai": ([CHAT], openai_answer, call_openai),
    "azure": ([AZURE_CHAT], openai_answer, call_openai),
    "anthropic": (["/v1/messages"], anthropic_answer, call_anthropic),
    "bedrock": ([MODEL_PATH + "/converse", MODEL_PATH + "/converse-stream"], bedrock_answer, call_bedrock),
    "gemini": ([GEMINI + verb for verb in GOOGLE], lambda t, s: google_answer(t, s, False), call_google),
    "vertex": ([VERTEX + verb for verb in GOOGLE], lambda t, s: google_answer(t, s, False), call_google),
    # google-genai always asks for SSE (alt=sse); the JSON-array stream is what plain REST clients get.
    "gemini-json-array": (
        [GEMINI + v for v in GOOGLE],
        lambda t, s: google_answer(t, s, True),
        call_google_array,
    ),
}
CASES = [(name, stream) for name in PROVIDERS for stream in (False, True) if name != "gemini-json-array"]
CASES.append(("gemini-json-array", True))
# What each client raises for a replay miss (a 404 in its provider's error format).
MISSES = (openai.NotFoundError, anthropic.NotFoundError, ClientError, errors.ClientError, LookupError)


class Run:
    """One running proxy of the provider under test, its SDK client, and the fake's request count."""

    def __init__(self, api: Api, fake: FakeUpstream, name: str, stream: bool, **cache: Any) -> None:
        self.api, self.fake, self.name, self.stream = api, fake, name, stream
        provider = name.split("-")[0]
        self.proxy = api.running_proxy(provider, fake.url, **({"cache": cache} if cache else {}))
        self.sdk = client(name, self.proxy)

    def __call__(self, content: str = "What is 2+2?") -> Outcome:
        return PROVIDERS[self.name][2](self.sdk, self.stream, content)

    @property
    def upstream_calls(self) -> int:
        return len(self.fake.requests)  # every request the fake got, on any path

    def mode(self, mode: str) -> None:
        assert set_cache(self.api, self.proxy["id"], mode=mode)["mode"] == mode

    def entries(self) -> list[dict[str, Any]]:
        return recorded_entries(self.api, self.proxy["id"])

    def miss(self) -> Any:
        return pytest.raises(MISSES, match="replay_miss")


@pytest.fixture(params=CASES, ids=[f"{name}-{'stream' if stream else 'plain'}" for name, stream in CASES])
def start(request: pytest.FixtureRequest, api: Api) -> Iterator[Callable[..., Run]]:
    """Starts a proxy (with the given `cache` settings) in front of a fake that answers `answer N` to its
    Nth call, streamed when the request asked for a stream."""
    name, stream = request.param
    routes, respond = PROVIDERS[name][:2]
    calls = itertools.count(1)

    async def answer(request: FakeRequest) -> FakeResponse:
        if name == "bedrock" and (problem := aws.signature_problem(request)):
            return aws.invalid_signature(problem)  # the proxy re-signs; a stale signature fails here
        streamed = "stream" in request.path.lower() or request.json().get("stream") is True
        return respond(f"answer {next(calls)}", streamed)

    with FakeUpstream() as fake:
        for route in routes:
            fake.add_handler("POST", route, answer)
        yield lambda **cache: Run(api, fake, name, stream, **cache)


def answers(result: Any) -> list[str]:
    """The fake's `answer N` texts found in an SDK result (a stream's events included)."""
    return re.findall(r"answer \d+", json.dumps(result))


def test_record_stores_a_miss_and_replays_it(start: Callable[..., Run]) -> None:
    run = start()
    status, key, recorded = run()
    assert (status, len(key), answers(recorded), run.upstream_calls) == ("miss", 64, ["answer 1"], 1)
    assert run() == ("hit", key, recorded)  # the identical SDK result (every stream event) from the cache
    assert run.upstream_calls == 1
    [entry] = run.entries()
    assert (entry["key"], entry["occurrence"], entry["stream"], entry["hits"]) == (key, 1, run.stream, 1)


def test_replay_never_contacts_the_upstream(start: Callable[..., Run]) -> None:
    run = start()
    _, key, recorded = run()
    run.mode("replay")
    assert [run(), run()] == [("hit", key, recorded)] * 2
    with run.miss():  # nothing recorded for it, and it is not fetched either
        run("Something never recorded")
    assert run.upstream_calls == 1 and answers(recorded) == ["answer 1"] and len(run.entries()) == 1


def test_refresh_always_calls_the_upstream_and_replaces_the_entry(start: Callable[..., Run]) -> None:
    run = start()
    _, key, first = run()
    run.mode("refresh")
    refreshed = [run(), run()]  # the fake answers something new each time; refresh fetches it each time
    assert [(status, k, answers(result)) for status, k, result in refreshed] == [
        ("miss", key, ["answer 2"]),
        ("miss", key, ["answer 3"]),
    ]
    assert run.upstream_calls == 3
    assert [(entry["key"], entry["occurrence"]) for entry in run.entries()] == [(key, 1)]  # replaced
    run.mode("replay")
    assert run() == ("hit", key, refreshed[-1][2])  # the newest answer, not `answer 1`
    assert answers(first) == ["answer 1"] and run.upstream_calls == 3


def test_off_passes_through_and_stores_nothing(start: Callable[..., Run]) -> None:
    run = start(mode="off")
    outcomes = [run(), run()]
    assert [(status, answers(result)) for status, _, result in outcomes] == [
        ("bypass", ["answer 1"]),
        ("bypass", ["answer 2"]),
    ]
    assert outcomes[0][1] == outcomes[1][1] and len(outcomes[0][1]) == 64  # the key is still announced
    assert run.upstream_calls == 2 and run.entries() == []
    run.mode("replay")  # really nothing stored: replay has nothing to answer with
    with run.miss():
        run()
    assert run.upstream_calls == 2


def test_sequence_records_repeats_and_replays_them_in_order(start: Callable[..., Run]) -> None:
    run = start(repeats="sequence")
    recorded = [run(), run()]
    assert [(status, answers(result)) for status, _, result in recorded] == [
        ("miss", ["answer 1"]),
        ("miss", ["answer 2"]),
    ]
    key = recorded[0][1]
    assert recorded[1][1] == key and run.upstream_calls == 2
    assert sorted((entry["key"], entry["occurrence"]) for entry in run.entries()) == [(key, 1), (key, 2)]
    run.mode("replay")
    rewind(run.api, run.proxy["id"])
    assert [run(), run()] == [("hit", key, result) for _, _, result in recorded]  # in recorded order
    with run.miss():  # one past the last recorded occurrence
        run()
    assert run.upstream_calls == 2
