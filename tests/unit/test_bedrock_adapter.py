"""Bedrock adapter: routes and path normalisation, error format, options, upstream URL."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from botocore.credentials import ReadOnlyCredentials
from botocore.parsers import create_parser

from rubberduck.providers.base import ERROR_KINDS, RequestView, UpstreamSetupError
from rubberduck.providers.bedrock import BedrockAdapter, normalise_path
from rubberduck.providers.bedrock_signing import CredentialsUnavailable
from tests.fakes import aws

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
ARN = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0"
SIGNED_US_WEST_2 = "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-west-2/bedrock/aws4_request, Sig=x"


def view(path: str, headers: dict[str, str] | None = None) -> RequestView:
    return RequestView("POST", path, "", headers or {}, b"{}", {})


@pytest.mark.parametrize(
    "path",
    [
        "/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke",  # boto3
        "/model/anthropic.claude-3-haiku-20240307-v1:0/invoke",  # AnthropicBedrock
        "/model/anthropic.claude-3-haiku-20240307-v1%3a0/invoke",  # lower-case hex
        "/model/%61nthropic.claude-3-haiku-20240307-v1%3A0/invoke",  # needlessly encoded letter
    ],
)
def test_every_spelling_of_a_model_id_is_one_path(path: str) -> None:
    assert normalise_path(path) == "/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke"


def test_arns_literal_percents_and_dot_segments() -> None:
    encoded_arn = "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-3-haiku-20240307-v1%3A0"
    assert normalise_path(f"/model/{encoded_arn}/converse") == f"/model/{encoded_arn}/converse"
    # A client that leaves the ARN's "/" raw still names one model: the action is the last segment.
    assert normalise_path(f"/model/{ARN}/converse") == f"/model/{encoded_arn}/converse"
    # "%253A" is a literal "%3A" in the id: a different model, so a different path.
    assert normalise_path("/model/a%253A0/invoke") == "/model/a%253A0/invoke"
    # Decoding must never turn an encoded dot segment into a real one.
    assert normalise_path("/model/%2E%2E/invoke") == "/model/%2E%2E/invoke"
    assert normalise_path("/guardrail/%2e/version/1/apply") == "/guardrail/%2E/version/1/apply"
    assert normalise_path("/async-invoke/arn:aws:bedrock:x") == "/async-invoke/arn%3Aaws%3Abedrock%3Ax"
    assert normalise_path("/") == "/"


@pytest.mark.parametrize(
    ("action", "operation", "stream"),
    [
        ("invoke", "invoke", False),
        ("invoke-with-response-stream", "invoke_stream", True),
        ("converse", "converse", False),
        ("converse-stream", "converse_stream", True),
        ("count-tokens", "count_tokens", False),
    ],
)
def test_model_routes(action: str, operation: str, stream: bool) -> None:
    route = BedrockAdapter().route(view(f"/model/{HAIKU}/{action}"))
    assert (route.operation, route.model, route.stream) == (operation, HAIKU, stream)
    assert route.path == f"/model/anthropic.claude-3-haiku-20240307-v1%3A0/{action}"


def test_other_paths_pass_through_without_a_model() -> None:
    adapter = BedrockAdapter()
    assert adapter.route(view("/guardrail/g1/version/2/apply")).operation == "apply_guardrail"
    assert adapter.route(view("/async-invoke")).operation == "async_invoke"
    unknown = adapter.route(view("/model/m/some-new-action"))
    assert (unknown.operation, unknown.model, unknown.stream) == (None, None, False)
    assert unknown.path == "/model/m/some-new-action"
    # A body "model" or "stream" means nothing to Bedrock: the path decides.
    body = RequestView("POST", "/model/m/converse", "", {}, b"", {"model": "x", "stream": True})
    assert (adapter.route(body).model, adapter.route(body).stream) == ("m", False)


def parse_error(status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> dict[str, Any]:
    """How boto3 reads an error response (botocore's rest-json parser)."""
    response = {"status_code": status, "headers": {n.decode(): v.decode() for n, v in headers}, "body": body}
    return dict(create_parser("rest-json").parse(response, None))


@pytest.mark.parametrize(
    ("status", "kind", "code"),
    [
        (400, "invalid_request", "ValidationException"),
        (403, "authentication", "UnrecognizedClientException"),
        (403, "permission", "AccessDeniedException"),
        (404, "not_found", "ResourceNotFoundException"),
        (429, "rate_limit", "ThrottlingException"),
        (500, "server_error", "InternalServerException"),
        (502, "bad_gateway", "InternalServerException"),
        (503, "unavailable", "ServiceUnavailableException"),
        (504, "timeout", "ModelTimeoutException"),
        (408, "request_timeout", "ModelTimeoutException"),
        (529, "overloaded", "ServiceUnavailableException"),
    ],
)
def test_errors_parse_in_boto3_with_the_right_code(status: int, kind: str, code: str) -> None:
    reply = BedrockAdapter().error(status, kind, "Something went wrong.")
    parsed = parse_error(reply.status, reply.headers, reply.body)
    assert parsed["Error"] == {"Code": code, "Message": "Something went wrong."}
    assert parsed["ResponseMetadata"]["RequestId"]
    assert reply.status == status


def test_unknown_kinds_fall_back_by_status() -> None:
    adapter = BedrockAdapter()
    for status, code in ((418, "ValidationException"), (599, "InternalServerException")):
        reply = adapter.error(status, "no-such-kind", "m")
        assert parse_error(reply.status, reply.headers, reply.body)["Error"]["Code"] == code


def test_every_error_kind_maps_to_a_bedrock_or_aws_code() -> None:
    model = botocore.session.get_session().get_service_model("bedrock-runtime")
    known = {shape.name for shape in model.error_shapes} | {"UnrecognizedClientException"}
    adapter = BedrockAdapter()
    for kind in ERROR_KINDS:
        reply = adapter.error(500, kind, "m")
        code = parse_error(reply.status, reply.headers, reply.body)["Error"]["Code"]
        assert code in known, (kind, code)


def test_retry_after_in_the_header_botocore_reads() -> None:
    headers = dict(BedrockAdapter().error(429, "rate_limit", "slow down", retry_after=2.5).headers)
    assert headers[b"x-amz-retry-after"] == b"2500"  # milliseconds (botocore/retries/standard.py)
    assert headers[b"retry-after"] == b"2"


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"aws_profile": "team-dev"},
        {"aws_region": "eu-central-1", "aws_profile": "a.b@c"},
        {"aws_region": "us-gov-west-1"},
        {"aws_region": "eusc-de-east-1"},
    ],
)
def test_good_options(options: dict[str, Any]) -> None:
    BedrockAdapter().validate_options(options)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"aws_region": "Moon"}, "aws_region"),
        ({"aws_region": 1}, "aws_region"),
        ({"aws_profile": ""}, "aws_profile"),
        ({"aws_profile": "has space"}, "aws_profile"),
        ({"upstream_timeout_seconds": -1}, "upstream_timeout_seconds"),
    ],
)
def test_bad_options(options: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        BedrockAdapter().validate_options(options)
    assert {"aws_profile", "aws_region"} <= set(BedrockAdapter.option_keys)


class StubCredentials:
    def __init__(self, region: str | None = None, error: str | None = None) -> None:
        self.region, self.error, self.profiles = region, error, list[str | None]()

    def get(self, profile: str | None) -> tuple[Any, str | None]:
        self.profiles.append(profile)
        if self.error:
            raise CredentialsUnavailable(self.error)
        return ReadOnlyCredentials(aws.ENV_ACCESS_KEY, aws.ENV_SECRET_KEY, None), self.region


def adapter_with(credentials: StubCredentials) -> BedrockAdapter:
    return BedrockAdapter(credentials)  # type: ignore[arg-type]


def upstream_url(
    adapter: BedrockAdapter,
    request: RequestView,
    upstream: str | None = None,
    options: dict[str, Any] | None = None,
) -> str:
    return adapter.prepare_upstream(request, adapter.route(request), upstream, [], options or {}).url


def test_default_upstream_follows_the_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    adapter = adapter_with(StubCredentials(region="sa-east-1"))
    path = f"/model/{HAIKU}/invoke"
    signed = {"authorization": SIGNED_US_WEST_2}
    expected = (
        "https://bedrock-runtime.{}.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke"
    )
    # The option wins, then the client's signature, then the environment, then the profile's config.
    assert upstream_url(adapter, view(path, signed), options={"aws_region": "eu-west-1"}) == expected.format(
        "eu-west-1"
    )
    assert upstream_url(adapter, view(path, signed), options={}) == expected.format("us-west-2")
    assert upstream_url(adapter, view(path)) == expected.format("ap-south-1")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    assert upstream_url(adapter, view(path)) == expected.format("sa-east-1")
    # upstream_url replaces the host only; the query is forwarded as sent.
    with_query = RequestView("POST", path, "x=1", {}, b"{}", {})
    assert upstream_url(adapter, with_query, "http://fake:9/") == (
        "http://fake:9/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke?x=1"
    )


def test_profile_option_and_setup_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    stub = StubCredentials()
    with pytest.raises(UpstreamSetupError) as raised:
        upstream_url(adapter_with(stub), view(f"/model/{HAIKU}/invoke"), options={"aws_profile": "team"})
    assert (raised.value.status, raised.value.kind) == (400, "invalid_request")
    assert "aws_region" in raised.value.message
    assert stub.profiles == ["team"]
    broken = StubCredentials(error="no credentials for AWS profile 'team'")
    with pytest.raises(UpstreamSetupError) as raised:
        upstream_url(
            adapter_with(broken), view(f"/model/{HAIKU}/invoke", {"authorization": SIGNED_US_WEST_2})
        )
    assert (raised.value.status, raised.value.kind) == (403, "authentication")
    assert "'team'" in raised.value.message


def test_snippet_is_runnable_python() -> None:
    code = BedrockAdapter.snippet.format(proxy_url="http://127.0.0.1:8001", model=HAIKU)
    compile(code, "snippet", "exec")
    assert 'endpoint_url="http://127.0.0.1:8001"' in code and f'modelId="{HAIKU}"' in code
