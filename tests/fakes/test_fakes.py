"""Prove the fakes replay real recordings faithfully enough for the official SDKs (no proxy involved)."""

from __future__ import annotations

import gzip
import json
import logging
import queue
import threading
import time
import zlib
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.fakes.cassette import GZIP_MAGIC, corpus_dir, load_cassette, recordings
from tests.fakes.sse import split_sse_events
from tests.fakes.upstream import FakeRequest, FakeResponse, FakeUpstream

CHAT = "/v1/chat/completions"


@pytest.fixture
def fake(caplog: pytest.LogCaptureFixture) -> Iterator[FakeUpstream]:
    with FakeUpstream() as upstream:
        yield upstream
    # uvicorn reports app errors and unclean shutdowns only through logging, so check it stayed quiet.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert not [t for t in threading.enumerate() if t.name == "fake-upstream"]


def openai_client(fake: FakeUpstream) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.url + "/v1", api_key="sk-test", max_retries=0)


def anthropic_client(fake: FakeUpstream) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=fake.url, api_key="sk-ant-test", max_retries=0)


def sse_data(body: bytes) -> list[Any]:
    """The JSON payloads of an SSE body, without the OpenAI [DONE] sentinel."""
    payloads = []
    for event in split_sse_events(body):
        for line in event.decode().splitlines():
            if line.startswith("data:") and line[5:].strip() != "[DONE]":
                payloads.append(json.loads(line[5:]))
    return payloads


# ---- cassette loading ---------------------------------------------------------------------------------------


def test_every_corpus_file_loads_without_framing_headers() -> None:
    files = sorted(corpus_dir().glob("*/*.yaml"))
    assert len(files) >= 40
    for path in files:
        for rec in load_cassette(path):
            names = {name.lower() for name, _ in rec.headers}
            assert rec.path.startswith("/") and 100 <= rec.status < 600, path
            assert not names & {"content-length", "transfer-encoding", "connection", "keep-alive"}, path
            if "content-encoding" in names:  # only ever kept when the bytes really are gzip
                assert rec.body.startswith(GZIP_MAGIC), path


def test_the_three_dialects_are_normalised() -> None:
    # httpx stub: `content:` is decoded text although the recording kept Content-Encoding: gzip.
    legacy = recordings("openai", "completions_legacy")[0]
    assert (
        legacy.header("content-encoding") is None and json.loads(legacy.body)["object"] == "text_completion"
    )
    # vcrpy !!binary: raw gzip bytes stay raw, with their header.
    raw = recordings("anthropic", "messages_nonstream_gzip")[0]
    assert raw.body.startswith(GZIP_MAGIC) and raw.header("content-encoding") == "gzip"
    # pydantic-ai parsed_body: compact JSON on both sides.
    parsed = recordings("openai", "chat_error_400_unsupported_value")[0]
    assert parsed.body == json.dumps(json.loads(parsed.body), separators=(",", ":")).encode()
    assert json.loads(parsed.request_body)["model"] == "o1-mini" and b", " not in parsed.request_body
    assert (parsed.status, json.loads(parsed.body)["error"]["code"]) == (400, "unsupported_value")
    count = recordings("anthropic", "count_tokens_beta")[0]
    assert (count.path, count.query) == ("/v1/messages/count_tokens", "beta=true")


def test_split_sse_events_handles_lf_and_crlf() -> None:
    body = recordings("vertex", "gemini_stream_generate_content_sse")[0].body
    events = split_sse_events(body)
    assert len(events) > 1 and b"".join(events) == body
    assert all(event.endswith(b"\r\n\r\n") for event in events)
    mixed = b"event: a\ndata: 1\n\ndata: 2\r\n\r\ndata: tail"
    assert split_sse_events(mixed) == [b"event: a\ndata: 1\n\n", b"data: 2\r\n\r\n", b"data: tail"]


# ---- official SDKs against recordings ---------------------------------------------------------------------------


def test_openai_chat_nonstream_tool_call(fake: FakeUpstream) -> None:
    rec = recordings("openai", "chat_completions_nonstream_tools")[0]
    expected = json.loads(gzip.decompress(rec.body))["choices"][0]["message"]["tool_calls"][0]["function"]
    fake.add("POST", CHAT, rec)
    with openai_client(fake) as client:
        completion = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Can Crumpet have dragons?"}]
        )
    tool_calls = completion.choices[0].message.tool_calls or []
    function = tool_calls[0].function  # type: ignore[union-attr]
    assert (function.name, function.arguments) == (expected["name"], expected["arguments"])
    assert fake.count("POST", CHAT) == 1
    sent = fake.requests[0]
    assert sent.headers["authorization"] == "Bearer sk-test" and sent.json()["model"] == "gpt-4o-mini"


def test_openai_chat_stream_tool_call_arguments_assemble(fake: FakeUpstream) -> None:
    rec = recordings("openai", "chat_completions_stream_tools")[0]
    fake.add("POST", CHAT, rec, stream=True)
    with openai_client(fake) as client:
        stream = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "What is 1231 * 2331?"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
    deltas = [call for chunk in chunks for choice in chunk.choices for call in choice.delta.tool_calls or []]
    assert deltas[0].function is not None and deltas[0].function.name == "multiply"
    arguments = "".join(call.function.arguments or "" for call in deltas if call.function)
    assert json.loads(arguments) == {"a": 1231, "b": 2331}
    assert len(chunks) == len(sse_data(rec.body))  # every event but [DONE] reached the SDK
    assert chunks[-1].choices == [] and chunks[-1].usage is not None


def test_openai_responses_stream(fake: FakeUpstream) -> None:
    rec = recordings("openai", "responses_stream")[0]
    fake.add("POST", "/v1/responses", rec, stream=True)
    with openai_client(fake) as client:
        events = list(client.responses.create(model="gpt-5.5", input="Reply with exactly: pong", stream=True))
    assert [event.type for event in events] == [payload["type"] for payload in sse_data(rec.body)]
    assert events[-1].type == "response.completed" and events[-1].response.output_text == "pong"


def test_anthropic_messages_nonstream_gzip(fake: FakeUpstream) -> None:
    rec = recordings("anthropic", "messages_nonstream_gzip")[0]
    expected = json.loads(gzip.decompress(rec.body))
    fake.add("POST", "/v1/messages", rec)
    with anthropic_client(fake) as client:
        message = client.messages.create(
            model="claude-3-opus-20240229", max_tokens=1024, messages=[{"role": "user", "content": "A joke"}]
        )
    assert message.id == expected["id"]
    assert message.content[0].text == expected["content"][0]["text"]  # type: ignore[union-attr]


def test_anthropic_messages_stream(fake: FakeUpstream) -> None:
    rec = recordings("anthropic", "messages_stream")[0]
    fake.add("POST", "/v1/messages", rec, stream=True)
    with anthropic_client(fake) as client:
        with client.messages.stream(
            # not the recorded claude-sonnet-4-5: the SDK warns that it is deprecated (and warnings are errors)
            model="claude-sonnet-4-6",
            max_tokens=8192,
            messages=[{"role": "user", "content": "Pelican names"}],
        ) as stream:
            final = stream.get_final_message()
    deltas = [p["delta"]["text"] for p in sse_data(rec.body) if p["type"] == "content_block_delta"]
    text = final.content[0].text  # type: ignore[union-attr]
    assert text and text == "".join(deltas)


def test_anthropic_gzip_sse_stream_is_streamed_per_event(fake: FakeUpstream) -> None:
    rec = recordings("anthropic", "messages_stream_tool_use")[0]
    assert rec.body.startswith(GZIP_MAGIC)  # a gzip'd SSE recording: the fake re-compresses per event
    fake.add("POST", "/v1/messages", rec, stream=True)
    with anthropic_client(fake) as client:
        with client.messages.stream(
            model="claude-haiku-4-5", max_tokens=100, messages=[{"role": "user", "content": "Use a tool"}]
        ) as stream:
            final = stream.get_final_message()
    assert any(block.type == "tool_use" for block in final.content)
    # Each chunk must be decodable on arrival: with the rest held back, the first one alone gives event 1.
    fake.add("POST", "/v1/messages", rec, stream=True, hold_after=1)
    first_event = split_sse_events(gzip.decompress(rec.body))[0]
    with httpx.Client(timeout=5) as raw, raw.stream("POST", fake.url + "/v1/messages") as response:
        assert response.headers["content-encoding"] == "gzip"
        decoder = zlib.decompressobj(wbits=31)
        chunks = response.iter_raw()
        assert decoder.decompress(next(chunks)) == first_event
        fake.release()
        rest = decoder.decompress(b"".join(chunks))
    assert first_event + rest == gzip.decompress(rec.body) and decoder.eof


def test_anthropic_error_recording_raises_authentication_error(fake: FakeUpstream) -> None:
    fake.add("POST", "/v1/messages", recordings("anthropic", "messages_error_401_authentication")[0])
    with anthropic_client(fake) as client, pytest.raises(anthropic.AuthenticationError) as info:
        client.messages.create(model="claude-3", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert info.value.request_id == "req_013JyjhVcnhy8mfJkvBTqMNB"


def test_openai_error_recording_raises_authentication_error(fake: FakeUpstream) -> None:
    fake.add("POST", CHAT, recordings("openai", "chat_error_401_invalid_api_key")[0])
    with openai_client(fake) as client, pytest.raises(openai.AuthenticationError) as info:
        client.chat.completions.create(model="gpt-3.5-turbo", messages=[{"role": "user", "content": "hi"}])
    assert info.value.code == "invalid_api_key"
    assert fake.count("POST", CHAT) == 1  # max_retries=0: exactly one attempt


# ---- fake behaviour ----------------------------------------------------------------------------------------------


def test_hold_after_sends_first_event_then_waits_for_release(fake: FakeUpstream) -> None:
    rec = recordings("openai", "chat_completions_stream_tools")[0]
    fake.add("POST", CHAT, rec, stream=True, hold_after=1)
    received: queue.Queue[bytes | None] = queue.Queue()

    def read() -> None:
        try:
            with httpx.Client(timeout=10) as client, client.stream("POST", fake.url + CHAT) as response:
                for chunk in response.iter_raw():
                    received.put(chunk)
        finally:
            received.put(None)

    reader = threading.Thread(target=read)
    reader.start()
    assert received.get(timeout=5) == split_sse_events(rec.body)[0]
    with pytest.raises(queue.Empty):  # the gate is closed, so nothing else may arrive
        received.get(timeout=0.5)
    fake.release()
    rest = b"".join(iter(lambda: received.get(timeout=5), None))
    reader.join(timeout=5)
    assert split_sse_events(rec.body)[0] + rest == rec.body


def test_routes_404_and_request_log(fake: FakeUpstream) -> None:
    fake.add("GET", "/v1/models", FakeResponse(200, [], b"old"))
    fake.add("GET", "/v1/models", FakeResponse.json(200, {"data": []}))  # newest wins
    with httpx.Client(base_url=fake.url) as client:
        missing = client.post("/nope?x=1", content=b"hi", headers=[("X-A", "1"), ("X-A", "2")])
        models = client.get("/v1/models")
    assert missing.status_code == 404 and missing.json() == {"error": "fake upstream: no route"}
    assert models.json() == {"data": []}
    assert "server" not in models.headers and "date" not in models.headers  # only the headers we gave
    first = fake.requests[0]
    assert (first.method, first.path, first.query, first.body) == ("POST", "/nope", "x=1", b"hi")
    assert first.headers["x-a"] == "1, 2"
    assert fake.count("GET", "/v1/models") == 1
    fake.reset_counts()
    assert fake.count("GET", "/v1/models") == 0 and fake.requests == []


def test_custom_handler_and_percent_encoded_path(fake: FakeUpstream) -> None:
    async def echo(request: FakeRequest) -> FakeResponse:
        return FakeResponse.json(201, {"path": request.path, "body": request.json()})

    fake.add_handler("POST", "/model/a:0/invoke", echo)  # registered decoded, requested encoded (boto3)
    response = httpx.post(fake.url + "/model/a%3A0/invoke", json={"k": 1})
    assert response.status_code == 201 and response.json() == {
        "path": "/model/a%3A0/invoke",
        "body": {"k": 1},
    }


def test_delay_hang_and_stop_never_blocks(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeUpstream().start()
    fake.add("GET", "/slow", FakeResponse(200, [], b"ok", delay=0.3))
    fake.add("GET", "/hang", FakeResponse(200, [], b"never", hang=True))
    started = time.monotonic()
    assert httpx.get(fake.url + "/slow").text == "ok" and time.monotonic() - started >= 0.3
    with pytest.raises(httpx.ReadTimeout):  # the client gives up; the fake must return quietly
        httpx.get(fake.url + "/hang", timeout=0.3)
    statuses: list[int] = []
    waiter = threading.Thread(
        target=lambda: statuses.append(httpx.get(fake.url + "/hang", timeout=10).status_code)
    )
    waiter.start()
    time.sleep(0.2)
    started = time.monotonic()
    fake.stop()  # a request still hanging must not block shutdown: it is answered with 503
    waiter.join(timeout=5)
    assert statuses == [503] and time.monotonic() - started < 3
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_client_disconnect_mid_stream_is_tolerated(fake: FakeUpstream) -> None:
    rec = recordings("openai", "chat_completions_stream_tools")[0]
    fake.add("POST", CHAT, rec, stream=True, hold_after=2)
    with httpx.Client(timeout=5) as client:
        with client.stream("POST", fake.url + CHAT) as response:
            next(response.iter_raw())  # then leave while the fake still holds the rest
        fake.release()
        time.sleep(0.2)  # let the fake notice the disconnect (the fixture checks nothing was logged)
        assert client.post(fake.url + CHAT).content == rec.body  # and the server still serves
