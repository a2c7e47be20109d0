"""Record, then replay offline, through the anthropic SDK and boto3 (Bedrock event streams); replay misses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.fakes.cassette import recordings
from tests.fakes.upstream import FakeUpstream
from tests.integration.recording_support import KEY_HEADER, log_rows, set_cache
from tests.integration.test_bedrock_proxy import MODEL, MODEL_PATH, serve_signed, streamed
from tests.support import Api, proxy_url

MESSAGES = "/v1/messages"
PELICAN = [{"role": "user", "content": "Two names for a pet pelican, be brief"}]


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream()
    upstream.add("POST", MESSAGES, recordings("anthropic", "messages_nonstream_gzip.yaml")[0])
    serve_signed(upstream, "POST", MODEL_PATH + "/converse", recordings("bedrock", "converse")[0])
    stream_recording = recordings("bedrock", "converse_stream")[0]
    serve_signed(upstream, "POST", MODEL_PATH + "/converse-stream", streamed(stream_recording))
    with upstream:
        yield upstream


def claude(base: str, **kwargs: Any) -> anthropic.Anthropic:
    kwargs.setdefault("max_retries", 0)
    return anthropic.Anthropic(base_url=base, api_key="sk-ant-test-key", **kwargs)


def bedrock(base: str, attempts: int = 1) -> Any:
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=base,
        region_name="us-east-1",
        aws_access_key_id="AKIACLIENTDUMMY00001",
        aws_secret_access_key="client-dummy-secret",
        config=Config(retries={"max_attempts": attempts, "mode": "standard"}),
    )


def anthropic_stream(sdk: anthropic.Anthropic) -> tuple[str, list[dict[str, Any]]]:
    with sdk.messages.with_streaming_response.create(
        model="claude-sonnet-4-5", max_tokens=8192, messages=PELICAN, stream=True
    ) as response:
        return response.headers["x-rubberduck-cache"], [event.model_dump() for event in response.parse()]


def converse_stream(sdk: Any, text: str = "Explain distributed tracing") -> tuple[str, list[dict[str, Any]]]:
    response = sdk.converse_stream(modelId=MODEL, messages=[{"role": "user", "content": [{"text": text}]}])
    status = response["ResponseMetadata"]["HTTPHeaders"]["x-rubberduck-cache"]
    return status, [dict(event) for event in response["stream"]]


def converse(sdk: Any, text: str = "Explain distributed tracing") -> dict[str, Any]:
    answer = sdk.converse(
        modelId=MODEL,
        messages=[{"role": "user", "content": [{"text": text}]}],
        inferenceConfig={"temperature": 0.7},
    )
    return dict(answer)


def test_anthropic_recorded_then_replayed_with_the_upstream_gone(api: Api, fake: FakeUpstream) -> None:
    fake.add("POST", MESSAGES, recordings("anthropic", "messages_stream.yaml")[0], stream=True)
    proxy = api.running_proxy("anthropic", fake.url)
    sdk = claude(proxy_url(proxy) + "/_ns/suite-a")  # a namespace in the base URL
    recorded_stream = anthropic_stream(sdk)
    fake.add("POST", MESSAGES, recordings("anthropic", "messages_nonstream_gzip.yaml")[0])
    recorded = sdk.messages.with_raw_response.create(
        model="claude-sonnet-4-6", max_tokens=64, messages=PELICAN
    )
    assert fake.requests[-1].path == MESSAGES
    set_cache(api, proxy["id"], mode="replay")
    fake.stop()

    replayed_stream = anthropic_stream(sdk)
    replayed = sdk.messages.with_raw_response.create(
        model="claude-sonnet-4-6", max_tokens=64, messages=PELICAN
    )
    assert (recorded_stream[0], replayed_stream[0]) == ("miss", "hit")
    assert replayed_stream[1] == recorded_stream[1] and len(replayed_stream[1]) > 3
    assert replayed.headers["x-rubberduck-cache"] == "hit"
    assert replayed.parse().model_dump() == recorded.parse().model_dump()
    # Another namespace has nothing recorded: a miss, not the suite-a answer.
    with pytest.raises(anthropic.NotFoundError) as caught:
        claude(proxy_url(proxy) + "/_ns/suite-b").messages.create(
            model="claude-sonnet-4-6", max_tokens=64, messages=PELICAN
        )
    assert "namespace 'suite-b'" in caught.value.message


def test_anthropic_replay_miss_is_a_not_found_the_sdk_does_not_retry(api: Api, fake: FakeUpstream) -> None:
    proxy = api.running_proxy("anthropic", fake.url)
    sdk = claude(proxy_url(proxy), max_retries=2)
    sdk.messages.create(model="claude-sonnet-4-6", max_tokens=64, messages=PELICAN)
    set_cache(api, proxy["id"], mode="replay")
    other = [{"role": "user", "content": "Two names for a pet heron, be brief"}]
    with pytest.raises(anthropic.NotFoundError) as caught:
        sdk.messages.create(model="claude-sonnet-4-6", max_tokens=64, messages=other)
    body = caught.value.body
    assert isinstance(body, dict) and body["error"]["type"] == "replay_miss"
    assert (
        'messages[0].content: recorded "Two names for a pet pelican, be brief" '
        '≠ sent "Two names for a pet heron, be brief"' in body["error"]["message"]
    )
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert fake.count("POST", MESSAGES) == 1
    rows = log_rows(api, proxy["id"], 2, settle=0.5)
    assert (
        len(rows) == 2
        and rows[-1]["error"] == f"replay_miss: messages[0].content (nearest {rows[0]['cache_key']}#1)"
    )
    assert rows[-1]["cache_key"] == caught.value.response.headers[KEY_HEADER]


def test_bedrock_converse_and_event_stream_replayed_offline_through_a_namespace_prefix(
    api: Api, fake: FakeUpstream
) -> None:
    proxy = api.running_proxy("bedrock", fake.url)
    sdk = bedrock(
        proxy_url(proxy) + "/_ns/bedrock-suite"
    )  # boto3 signs the prefixed path; the proxy re-signs
    recorded = converse(sdk)
    recorded_stream = converse_stream(sdk)
    # The fake checks SigV4 on the path it got: so the prefix was stripped before signing.
    assert (
        fake.count("POST", MODEL_PATH + "/converse")
        == fake.count("POST", MODEL_PATH + "/converse-stream")
        == 1
    )
    assert recorded["ResponseMetadata"]["HTTPStatusCode"] == 200 and recorded_stream[0] == "miss"
    set_cache(api, proxy["id"], mode="replay")
    fake.stop()

    replayed = converse(sdk)
    replayed_stream = converse_stream(sdk)
    assert replayed["ResponseMetadata"]["HTTPHeaders"]["x-rubberduck-cache"] == "hit"
    assert replayed["output"] == recorded["output"] and replayed["usage"] == recorded["usage"]
    assert replayed_stream[0] == "hit"
    assert replayed_stream[1] == recorded_stream[1] and len(replayed_stream[1]) > 3  # the same frames


def test_bedrock_replay_miss_is_a_resource_not_found_client_error(api: Api, fake: FakeUpstream) -> None:
    proxy = api.running_proxy("bedrock", fake.url)
    sdk = bedrock(proxy_url(proxy), attempts=3)  # botocore's standard retries
    converse(sdk)
    set_cache(api, proxy["id"], mode="replay")
    with pytest.raises(ClientError) as caught:
        converse(sdk, text="Explain distributed logging")
    error = caught.value.response
    assert error["Error"]["Code"] == "ResourceNotFoundException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert error["ResponseMetadata"]["RetryAttempts"] == 0
    message = error["Error"]["Message"]
    assert message.startswith("Rubberduck replay_miss")
    assert (
        'messages[0].content[0].text: recorded "Explain distributed tracing" ≠ sent "Explain distributed logging"'
        in message
    )
    assert fake.count("POST", MODEL_PATH + "/converse") == 1
    rows = log_rows(api, proxy["id"], 2, settle=0.5)
    assert (
        len(rows) == 2
        and rows[-1]["error"]
        == f"replay_miss: messages[0].content[0].text (nearest {rows[0]['cache_key']}#1)"
    )
    assert "logging" not in json.dumps(rows[-1])
