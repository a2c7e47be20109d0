"""boto3 (and AnthropicBedrock) through a Rubberduck proxy to a fake Bedrock that checks SigV4.

The fake recomputes every request's signature the way AWS does, with the secrets the test server was
given (tests/fakes/aws.py), and answers 403 InvalidSignatureException otherwise: so each request here
also proves that the proxy re-signed it correctly, path encoding and all.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.eventstream import EventStreamBuffer
from botocore.exceptions import ClientError, EventStreamError

from tests.fakes import aws
from tests.fakes.cassette import Recording, recordings
from tests.fakes.eventstream import encode_frame, event_frame, split_frames
from tests.fakes.upstream import FakeRequest, FakeResponse, FakeUpstream
from tests.support import Api, RubberduckProcess, proxy_url

MODEL = "us.anthropic.claude-3-sonnet-20240229-v1:0"
MODEL_PATH = "/model/us.anthropic.claude-3-sonnet-20240229-v1%3A0"  # as boto3 and AWS spell it
CLIENT_KEY = "AKIACLIENTDUMMY00001"
CLIENT_SECRET = "client-dummy-secret"
VALIDATION_TYPE = "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/"


def recording(name: str) -> Recording:
    return recordings("bedrock", name)[0]


def streamed(rec: Recording) -> FakeResponse:
    """A recorded event stream sent one frame per chunk, as Bedrock sends it."""
    return FakeResponse(rec.status, list(rec.headers), chunks=split_frames(rec.body))


def serve_signed(
    fake: FakeUpstream,
    method: str,
    path: str,
    response: Recording | FakeResponse,
    hold_after: int | None = None,
) -> None:
    """Answer like the recording, but only requests signed with the server's fake AWS credentials."""
    answer = (
        response
        if isinstance(response, FakeResponse)
        else FakeResponse(response.status, list(response.headers), response.body)
    )

    async def handler(request: FakeRequest) -> FakeResponse:
        problem = aws.signature_problem(request)
        return aws.invalid_signature(problem) if problem else answer

    fake.add_handler(method, path, handler, hold_after=hold_after)


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream()
    serve_signed(upstream, "POST", MODEL_PATH + "/invoke", recording("invoke_anthropic"))
    serve_signed(upstream, "POST", MODEL_PATH + "/converse", recording("converse"))
    with upstream:
        yield upstream


@pytest.fixture
def proxy(api: Api, fake: FakeUpstream) -> dict[str, Any]:
    return api.running_proxy("bedrock", fake.url)


def client(proxy: dict[str, Any], region: str = "us-east-1") -> Any:
    """boto3 with dummy credentials (the proxy signs with its own) and no retries."""
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=proxy_url(proxy),
        region_name=region,
        aws_access_key_id=CLIENT_KEY,
        aws_secret_access_key=CLIENT_SECRET,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )


def cache_status(response: dict[str, Any]) -> str:
    return str(response["ResponseMetadata"]["HTTPHeaders"]["x-rubberduck-cache"])


def invoke(sdk: Any, **overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"modelId": MODEL, "body": recording("invoke_anthropic").request_body}
    params.update(overrides)
    response = sdk.invoke_model(**params)
    response["parsed"] = json.loads(response.pop("body").read())
    return dict(response)


def scope_of(request: FakeRequest) -> tuple[str, str]:
    """(access key id, region) of the signature a request arrived with."""
    credential = request.headers["authorization"].split("Credential=")[1].split(",")[0]
    key, _day, region, _service, _ = credential.split("/")
    return key, region


def test_invoke_miss_then_hit_resigned_by_the_proxy(proxy: dict[str, Any], fake: FakeUpstream) -> None:
    sdk = client(proxy)
    first, second = invoke(sdk), invoke(sdk)
    assert (cache_status(first), cache_status(second)) == ("miss", "hit")
    assert fake.count("POST", MODEL_PATH + "/invoke") == 1
    assert first["parsed"] == second["parsed"]
    assert first["parsed"]["content"][0]["text"].startswith("Hobbits")
    assert first["ResponseMetadata"]["RequestId"] == second["ResponseMetadata"]["RequestId"]
    forwarded = fake.requests[-1]
    assert forwarded.path == MODEL_PATH + "/invoke"  # %3A kept: AWS decodes it to the model id
    assert scope_of(forwarded) == (aws.ENV_ACCESS_KEY, "us-east-1")  # the client's region
    assert forwarded.headers["x-amz-security-token"] == aws.ENV_SESSION_TOKEN
    assert CLIENT_KEY not in json.dumps(forwarded.headers)


def test_response_shaping_headers_are_in_the_key(proxy: dict[str, Any], fake: FakeUpstream) -> None:
    sdk = client(proxy)
    assert cache_status(invoke(sdk)) == "miss"
    assert cache_status(invoke(sdk, trace="ENABLED")) == "miss"  # X-Amzn-Bedrock-Trace
    assert cache_status(invoke(sdk, accept="application/json")) == "miss"
    assert cache_status(invoke(sdk, trace="ENABLED")) == "hit"
    assert fake.count("POST", MODEL_PATH + "/invoke") == 3


def test_client_signature_is_rejected_by_the_fake(fake: FakeUpstream) -> None:
    """The fake is strict: boto3 straight at it (its own dummy signature) is refused."""
    direct = boto3.client(
        "bedrock-runtime",
        endpoint_url=fake.url,
        region_name="us-east-1",
        aws_access_key_id=CLIENT_KEY,
        aws_secret_access_key=CLIENT_SECRET,
        config=Config(retries={"max_attempts": 1}),
    )
    with pytest.raises(ClientError) as raised:
        invoke(direct)
    assert raised.value.response["Error"]["Code"] == "InvalidSignatureException"


def test_converse_miss_then_hit(proxy: dict[str, Any], fake: FakeUpstream) -> None:
    sdk = client(proxy)
    body = json.loads(recording("converse").request_body)
    answers = [sdk.converse(modelId=MODEL, **body) for _ in range(2)]
    assert [cache_status(answer) for answer in answers] == ["miss", "hit"]
    assert fake.count("POST", MODEL_PATH + "/converse") == 1
    for answer in answers:
        answer.pop("ResponseMetadata")
    assert answers[0] == answers[1]
    assert answers[0]["stopReason"] == "tool_use"


def stream_events(response: dict[str, Any], key: str) -> list[dict[str, Any]]:
    return [dict(event) for event in response[key]]


@pytest.mark.parametrize(
    ("name", "action", "call", "key"),
    [
        ("converse_stream", "converse-stream", "converse_stream", "stream"),
        (
            "invoke_with_response_stream_anthropic",
            "invoke-with-response-stream",
            "invoke_model_with_response_stream",
            "body",
        ),
    ],
)
def test_streams_miss_then_hit_parse_the_same(
    api: Api, fake: FakeUpstream, name: str, action: str, call: str, key: str
) -> None:
    rec = recording(name)
    serve_signed(fake, "POST", f"{MODEL_PATH}/{action}", streamed(rec))
    proxy = api.running_proxy("bedrock", fake.url)
    sdk = client(proxy)
    body = json.loads(rec.request_body)
    params = (
        {"modelId": MODEL, **body}
        if call == "converse_stream"
        else {"modelId": MODEL, "body": rec.request_body}
    )
    runs = []
    for _ in range(2):
        response = getattr(sdk, call)(**params)
        runs.append((cache_status(response), stream_events(response, key)))
    assert [status for status, _ in runs] == ["miss", "hit"]
    assert fake.count("POST", f"{MODEL_PATH}/{action}") == 1
    assert runs[0][1] == runs[1][1]  # boto3 parses the replay exactly as the original
    assert len(runs[0][1]) == len(split_frames(rec.body)) > 3


def test_stream_replay_is_byte_identical(api: Api, fake: FakeUpstream) -> None:
    rec = recording("invoke_with_response_stream_anthropic")
    path = f"{MODEL_PATH}/invoke-with-response-stream"
    serve_signed(fake, "POST", path, streamed(rec))
    # Unsigned requests carry no region, so the proxy needs one to sign with.
    proxy = api.running_proxy("bedrock", fake.url, options={"aws_region": "us-east-1"})
    bodies = []
    for expected in ("miss", "hit"):
        with httpx.stream("POST", proxy_url(proxy) + path, content=rec.request_body, timeout=10) as response:
            assert response.status_code == 200 and response.headers["x-rubberduck-cache"] == expected
            assert response.headers["content-type"] == "application/vnd.amazon.eventstream"
            bodies.append(response.read())
    assert bodies[0] == bodies[1] == rec.body
    parser = EventStreamBuffer()  # botocore's own decoder: raises on a bad length or CRC
    parser.add_data(bodies[1])
    assert [message.headers[":event-type"] for message in parser] == ["chunk"] * len(split_frames(rec.body))


def test_first_frame_arrives_while_upstream_holds_the_rest(api: Api, fake: FakeUpstream) -> None:
    rec = recording("converse_stream")
    path = f"{MODEL_PATH}/converse-stream"
    serve_signed(fake, "POST", path, streamed(rec), hold_after=1)
    proxy = api.running_proxy("bedrock", fake.url)
    started = time.monotonic()
    stream = client(proxy).converse_stream(
        modelId=MODEL, messages=[{"role": "user", "content": [{"text": "hold"}]}]
    )
    events = iter(stream["stream"])
    first = next(events)  # would wait for the fake's 30 s gate timeout if the proxy buffered
    assert "messageStart" in first and time.monotonic() - started < 10
    fake.release()
    assert "metadata" in list(events)[-1]


def test_mid_stream_exception_frames_reach_boto3(api: Api, fake: FakeUpstream) -> None:
    frames = [
        event_frame("messageStart", b'{"role":"assistant"}'),
        encode_frame(
            {
                ":message-type": "exception",
                ":exception-type": "throttlingException",
                ":content-type": "application/json",
            },
            b'{"message":"Too many tokens, please wait before trying again."}',
        ),
    ]
    headers = [("content-type", "application/vnd.amazon.eventstream")]
    serve_signed(fake, "POST", f"{MODEL_PATH}/converse-stream", FakeResponse(200, headers, chunks=frames))
    proxy = api.running_proxy("bedrock", fake.url)
    for expected in ("miss", "miss"):  # a stream that failed mid-way is never cached
        response = client(proxy).converse_stream(
            modelId=MODEL, messages=[{"role": "user", "content": [{"text": "x"}]}]
        )
        assert cache_status(response) == expected
        with pytest.raises(EventStreamError) as raised:
            list(response["stream"])
        assert raised.value.response["Error"]["Code"] == "throttlingException"


def test_colon_and_percent_3a_are_one_cache_key(proxy: dict[str, Any], fake: FakeUpstream) -> None:
    # AnthropicBedrock puts a raw ":" in the path; the proxy must forward it as AWS expects it (%3A).
    claude = anthropic.AnthropicBedrock(
        aws_region="us-east-1",
        base_url=proxy_url(proxy),
        aws_access_key=CLIENT_KEY,
        aws_secret_key=CLIENT_SECRET,
        max_retries=0,
    )
    raw = claude.messages.with_raw_response.create(
        model=MODEL, max_tokens=50, messages=[{"role": "user", "content": "The plot of LOTR?"}]
    )
    assert raw.headers["x-rubberduck-cache"] == "miss"
    assert raw.parse().content[0].text.startswith("Hobbits")  # type: ignore[union-attr]
    sent = fake.requests[-1]
    assert sent.path == MODEL_PATH + "/invoke"
    # boto3 with %3A and the very same body and Accept header: the same cache entry.
    again = invoke(client(proxy), body=sent.body, accept="application/json", contentType="application/json")
    assert cache_status(again) == "hit"
    # And a raw ":" from any HTTP client, without a signature at all.
    colon = httpx.post(
        proxy_url(proxy) + MODEL_PATH.replace("%3A", ":") + "/invoke",
        content=sent.body,
        headers={"accept": "application/json", "content-type": "application/json"},
    )
    assert colon.status_code == 200 and colon.headers["x-rubberduck-cache"] == "hit"
    assert fake.count("POST", MODEL_PATH + "/invoke") == 1


def test_arn_model_ids_keep_their_encoded_slash(proxy: dict[str, Any], fake: FakeUpstream) -> None:
    arn = (
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-sonnet-20240229-v1:0"
    )
    path = "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2F" + MODEL_PATH[7:]
    serve_signed(fake, "POST", path + "/invoke", recording("invoke_anthropic"))
    assert cache_status(invoke(client(proxy), modelId=arn)) == "miss"
    assert fake.requests[-1].path == path + "/invoke"


def test_upstream_validation_error_passes_through_uncached(api: Api, fake: FakeUpstream) -> None:
    rec = recording("converse_error_400_validation")
    # The recorder stripped x-amzn-ErrorType (pydantic-ai drops x-* headers); Bedrock sends it.
    error = FakeResponse(rec.status, [*rec.headers, ("x-amzn-ErrorType", VALIDATION_TYPE)], rec.body)
    serve_signed(fake, "POST", "/model/us.does-not-exist-model-v1%3A0/converse", error)
    proxy = api.running_proxy("bedrock", fake.url)
    sdk = client(proxy)
    for _ in range(2):
        with pytest.raises(ClientError) as raised:
            sdk.converse(
                modelId="us.does-not-exist-model-v1:0",
                messages=[{"role": "user", "content": [{"text": "hello"}]}],
            )
        assert raised.value.response["Error"] == {
            "Code": "ValidationException",
            "Message": "The provided model identifier is invalid.",
        }
        assert raised.value.response["ResponseMetadata"]["HTTPHeaders"]["x-rubberduck-cache"] == "miss"
    assert fake.count("POST", "/model/us.does-not-exist-model-v1%3A0/converse") == 2


def test_recorded_expired_token_error_keeps_its_code(api: Api, fake: FakeUpstream) -> None:
    rec = recording("invoke_error_403_expired_token")
    serve_signed(fake, "POST", rec.path, rec)
    proxy = api.running_proxy("bedrock", fake.url)
    with pytest.raises(ClientError) as raised:
        client(proxy).invoke_model(modelId="meta.llama2-13b-chat-v1", body=rec.request_body)
    assert raised.value.response["Error"]["Code"] == "ExpiredTokenException"
    assert raised.value.response["ResponseMetadata"]["RequestId"] == "402bd639-607f-433b-aa01-2852fc75287a"


def test_named_profile_and_region_option(api: Api, fake: FakeUpstream) -> None:
    profiled = api.running_proxy("bedrock", fake.url, options={"aws_profile": aws.PROFILE})
    invoke(client(profiled))
    assert scope_of(fake.requests[-1]) == (aws.PROFILE_ACCESS_KEY, "us-east-1")
    assert "x-amz-security-token" not in fake.requests[-1].headers  # this profile has no token
    regional = api.running_proxy("bedrock", fake.url, options={"aws_region": "eu-central-1"})
    invoke(client(regional, region="us-west-2"))
    assert scope_of(fake.requests[-1]) == (aws.ENV_ACCESS_KEY, "eu-central-1")


def test_a_slow_credential_lookup_holds_up_no_other_request(
    api: Api, fake: FakeUpstream, aws_dir: Path
) -> None:
    """A profile whose credential_process takes 2 s: meanwhile a cache hit on another proxy is instant."""
    slow = client(api.running_proxy("bedrock", fake.url, options={"aws_profile": aws.SLOW_PROFILE}))
    quick = client(api.running_proxy("bedrock", fake.url))
    assert cache_status(invoke(quick)) == "miss"
    answers: list[dict[str, Any]] = []
    waiting = threading.Thread(target=lambda: answers.append(invoke(slow)))
    waiting.start()
    marker, deadline = aws.slow_marker(aws_dir), time.monotonic() + 30
    while not marker.exists():  # the server is now inside the slow lookup
        assert time.monotonic() < deadline, "the slow credential_process never ran"
        time.sleep(0.01)
    began = time.monotonic()
    assert cache_status(invoke(quick)) == "hit"
    assert time.monotonic() - began < aws.SLOW_SECONDS / 2
    waiting.join(timeout=30)
    assert answers and cache_status(answers[0]) == "miss"  # and the slow profile's request went through
    assert answers[0]["parsed"] == invoke(quick)["parsed"]


def test_missing_profile_is_a_clear_client_error(api: Api, fake: FakeUpstream) -> None:
    broken = api.running_proxy("bedrock", fake.url, options={"aws_profile": "no-such-profile"})
    for _ in range(2):  # the second answer comes from the remembered failure
        with pytest.raises(ClientError) as raised:
            invoke(client(broken))
        error = raised.value.response["Error"]
        assert error["Code"] == "UnrecognizedClientException"
        assert "no-such-profile" in error["Message"] and "credentials" in error["Message"]
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert fake.requests == []
    # The proxy and the server are still fine.
    working = api.running_proxy("bedrock", fake.url)
    assert cache_status(invoke(client(working))) == "miss"


def test_bad_options_are_rejected(api: Api) -> None:
    for options in ({"aws_region": "moon-1"}, {"aws_profile": "bad profile!"}, {"aws_profile": 3}):
        response = api.http.post(
            "/api/proxies", json={"name": "b", "provider": "bedrock", "options": options}
        )
        assert response.status_code == 422, response.text
        assert next(iter(options)) in response.text


def test_other_operations_pass_through_signed(proxy: dict[str, Any], fake: FakeUpstream) -> None:
    listing = {"asyncInvokeSummaries": []}
    serve_signed(fake, "GET", "/async-invoke", FakeResponse.json(200, listing))
    response = client(proxy).list_async_invokes(maxResults=5, statusEquals="Completed")
    assert response["asyncInvokeSummaries"] == []
    assert fake.requests[-1].query == "maxResults=5&statusEquals=Completed"
    tokens = {"inputTokens": 7}
    serve_signed(fake, "POST", MODEL_PATH + "/count-tokens", FakeResponse.json(200, tokens))
    counted = client(proxy).count_tokens(
        modelId=MODEL, input={"converse": {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}}
    )
    assert counted["inputTokens"] == 7


def test_proxy_errors_are_in_bedrock_format(api: Api, fake: FakeUpstream) -> None:
    unreachable = api.running_proxy("bedrock", "http://127.0.0.1:9")
    with pytest.raises(ClientError) as raised:
        invoke(client(unreachable))
    assert raised.value.response["Error"]["Code"] == "InternalServerException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 502
    assert raised.value.response["ResponseMetadata"]["RequestId"]

    fake.add("POST", MODEL_PATH + "/converse", FakeResponse(hang=True))
    slow = api.running_proxy("bedrock", fake.url, options={"upstream_timeout_seconds": 0.5})
    with pytest.raises(ClientError) as raised:
        client(slow).converse(modelId=MODEL, messages=[{"role": "user", "content": [{"text": "x"}]}])
    assert raised.value.response["Error"]["Code"] == "ModelTimeoutException"

    proxy = api.running_proxy("bedrock", fake.url)
    bad = httpx.post(
        proxy_url(proxy) + MODEL_PATH + "/converse",
        content=b"{nope",
        headers={"content-type": "application/json"},
    )
    assert bad.status_code == 400 and bad.headers["x-amzn-errortype"].startswith("ValidationException:")
    assert "message" in bad.json()


def test_requests_are_logged_by_operation_and_model(
    server: RubberduckProcess, api: Api, fake: FakeUpstream
) -> None:
    proxy = api.running_proxy("bedrock", fake.url)
    invoke(client(proxy))
    rows = _log_rows(server, proxy["id"], 1)
    assert (rows[0]["operation"], rows[0]["model"], rows[0]["stream"]) == ("invoke", MODEL, 0)


def test_aws_secrets_never_reach_logs_or_database(
    server: RubberduckProcess, api: Api, fake: FakeUpstream
) -> None:
    default = api.running_proxy("bedrock", fake.url)
    profiled = api.running_proxy("bedrock", fake.url, options={"aws_profile": aws.PROFILE})
    broken = api.running_proxy("bedrock", fake.url, options={"aws_profile": "absent-profile"})
    for proxy in (default, profiled):
        invoke(client(proxy))
    with pytest.raises(ClientError):
        invoke(client(broken))
    # The secrets did leave the proxy, signed and in the token header: the test is not vacuous.
    assert {scope_of(request)[0] for request in fake.requests} == {aws.ENV_ACCESS_KEY, aws.PROFILE_ACCESS_KEY}
    assert _log_rows(server, broken["id"], 1)  # the log rows are written, so the DB is up to date
    output = server.output()
    assert "absent-profile" in output  # the failure was logged, by profile name only
    stored = b"".join(path.read_bytes() for path in Path(server.data_dir).rglob("*") if path.is_file())
    for secret in aws.ALL_SECRETS:
        assert secret not in output
        assert secret.encode() not in stored


def _log_rows(server: RubberduckProcess, proxy_id: int, expected: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 5
    while True:
        with sqlite3.connect(server.data_dir / "rubberduck.db") as db:
            db.row_factory = sqlite3.Row
            rows = [dict(r) for r in db.execute("select * from request_logs where proxy_id = ?", (proxy_id,))]
        if len(rows) >= expected or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)
