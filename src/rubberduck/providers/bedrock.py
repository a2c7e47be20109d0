"""AWS Bedrock Runtime (boto3 "bedrock-runtime", and anthropic's AnthropicBedrock).

Requests arrive signed for the proxy's host by the client (often with dummy credentials); the proxy
re-signs each forwarded request with the server's AWS credentials (bedrock_signing.py). Streams are
AWS event streams (binary frames with CRCs) that the data plane forwards and replays byte for byte.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar
from urllib.parse import quote, unquote

import orjson

from rubberduck.providers.base import (
    ErrorReply,
    ProviderAdapter,
    RequestView,
    Route,
    UpstreamRequest,
    UpstreamSetupError,
    Usage,
    content_type,
    encoded,
    json_reply,
)
from rubberduck.providers.bedrock_signing import (
    CredentialCache,
    CredentialsUnavailable,
    client_region,
    env_region,
    sign,
)
from rubberduck.providers.bedrock_usage import bedrock_usage
from rubberduck.providers.stream_end import EventStreamFinalFrame, StreamEnd
from rubberduck.types import RawHeaders

# Actions after /model/{modelId}/ -> (operation, streamed answer).
_MODEL_ACTIONS: dict[str, tuple[str, bool]] = {
    "invoke": ("invoke", False),
    "invoke-with-response-stream": ("invoke_stream", True),
    "converse": ("converse", False),
    "converse-stream": ("converse_stream", True),
    "count-tokens": ("count_tokens", False),
}

# Our error kinds -> the error code boto3 reads from x-amzn-ErrorType (botocore's bedrock-runtime
# service model for the modelled ones; UnrecognizedClientException is what AWS sends for a bad key).
_ERROR_CODES = {
    "invalid_request": "ValidationException",
    "authentication": "UnrecognizedClientException",
    "permission": "AccessDeniedException",
    "not_found": "ResourceNotFoundException",
    "request_too_large": "ValidationException",
    "rate_limit": "ThrottlingException",
    "server_error": "InternalServerException",
    "bad_gateway": "InternalServerException",
    "unavailable": "ServiceUnavailableException",
    "timeout": "ModelTimeoutException",
    "overloaded": "ServiceUnavailableException",
    "request_timeout": "ModelTimeoutException",
    "conflict": "ConflictException",
    "unprocessable": "ValidationException",
    # Bedrock's own "not found" (botocore does not retry it); the message starts with replay_miss.
    "replay_miss": "ResourceNotFoundException",
}
_CORAL_SERVICE = {"UnrecognizedClientException", "AccessDeniedException"}

_REGION = re.compile(r"[a-z]{2,4}(-[a-z0-9]+)+-\d+")  # us-east-1, us-gov-west-1, eusc-de-east-1
_PROFILE = re.compile(r"[A-Za-z0-9_.@+=,/-]{1,128}")  # conservative: no spaces, brackets or quotes

# Everything but these is percent-encoded in a path segment, as botocore does for URI labels.
_UNRESERVED = "-._~"


def encode_segment(decoded: str) -> str:
    """botocore's encoding of one path segment; dot segments too, so they can never climb the path."""
    if decoded in (".", ".."):
        return decoded.replace(".", "%2E")
    return quote(decoded, safe=_UNRESERVED)


def split_model_path(path: str) -> tuple[str, str] | None:
    """(decoded model id, action) for /model/{modelId}/{action}, whatever the id's encoding.

    boto3 sends `anthropic.claude-v2%3A1` and an ARN's `/` as %2F; AnthropicBedrock sends a raw `:`.
    The action is the last segment, so even an id with a raw `/` stays whole.
    """
    if not path.startswith("/model/"):
        return None
    raw_model, _, action = path[len("/model/") :].rpartition("/")
    if not raw_model or action not in _MODEL_ACTIONS:
        return None
    return unquote(raw_model), action


def normalise_path(path: str) -> str:
    """One spelling per path, the one boto3 sends: used in the cache key and forwarded upstream.

    Each segment is decoded once and encoded as botocore encodes URI labels, so `%3A` and `:` give
    the same path, and `%253A` (a literal "%3A" in an id) stays distinct from both.
    """
    model_path = split_model_path(path)
    if model_path is not None:
        return model_route_path(*model_path)
    return "/".join(encode_segment(unquote(segment)) if segment else "" for segment in path.split("/"))


def model_route_path(model: str, action: str) -> str:
    return f"/model/{encode_segment(model)}/{action}"


def aws_error_body(message: str) -> bytes:
    return orjson.dumps({"message": message})


class BedrockAdapter(ProviderAdapter):
    name = "bedrock"
    label = "AWS Bedrock"
    # The region comes from the proxy's aws_region option, else from the client's signature.
    default_upstream: ClassVar[str | None] = "https://bedrock-runtime.{region}.amazonaws.com"
    # A profile's first use reads the AWS files or runs its credential_process; SSO and role
    # credentials refresh over the network: none of that may hold up the shared event loop.
    prepares_in_thread = True
    # Response-shaping request headers; the SigV4 ones are not here (they change on every call).
    key_headers = (
        "accept",
        "x-amzn-bedrock-accept",
        "x-amzn-bedrock-trace",
        "x-amzn-bedrock-guardrailidentifier",
        "x-amzn-bedrock-guardrailversion",
        "x-amzn-bedrock-performanceconfig-latency",
        "x-amzn-bedrock-service-tier",
    )
    option_keys = (*ProviderAdapter.option_keys, "aws_profile", "aws_region")
    snippet = (
        "import boto3\n\n"
        "# Rubberduck signs the requests it forwards with its own AWS credentials,\n"
        "# so the client's credentials may be dummies.\n"
        'client = boto3.client("bedrock-runtime", endpoint_url="{proxy_url}", region_name="us-east-1",\n'
        '                      aws_access_key_id="rubberduck", aws_secret_access_key="rubberduck")\n'
        'response = client.converse(modelId="{model}",\n'
        '                           messages=[{{"role": "user", "content": [{{"text": "Hi"}}]}}])\n'
        'print(response["output"]["message"]["content"][0]["text"])\n'
    )

    def __init__(self, credentials: CredentialCache | None = None) -> None:
        self.credentials = credentials or CredentialCache()

    def validate_options(self, options: dict[str, Any]) -> None:
        super().validate_options(options)
        profile = options.get("aws_profile")
        if profile is not None and not (isinstance(profile, str) and _PROFILE.fullmatch(profile)):
            raise ValueError("aws_profile must be an AWS profile name (letters, digits and -_.@+=,/)")
        region = options.get("aws_region")
        if region is not None and not (isinstance(region, str) and _REGION.fullmatch(region)):
            raise ValueError("aws_region must be an AWS region such as us-east-1")

    def route(self, request: RequestView) -> Route:
        # The path decides everything: Bedrock bodies carry no model and no stream flag.
        model_path = split_model_path(request.path)
        if model_path is None:
            path = normalise_path(request.path)
            return Route(path=path, operation=_other_operation(path))
        model, action = model_path
        operation, stream = _MODEL_ACTIONS[action]
        return Route(path=model_route_path(model, action), operation=operation, model=model, stream=stream)

    def region(
        self, request: RequestView, options: Mapping[str, Any], profile_region: str | None = None
    ) -> str:
        """The proxy's aws_region, else the region the client signed for, else the server's."""
        region = (
            options.get("aws_region")
            or client_region(request.headers.get("authorization"))
            or env_region(os.environ)
            or profile_region
        )
        if not region:
            raise UpstreamSetupError(
                400,
                "invalid_request",
                "Rubberduck cannot tell which AWS region to use: set the proxy's aws_region option, "
                "sign requests with a region, or set AWS_REGION for the Rubberduck server.",
            )
        return str(region)

    def upstream_base(self, upstream_url: str | None, request: RequestView) -> str:
        return _base(upstream_url, self.region(request, {}))

    def prepare_upstream(
        self,
        request: RequestView,
        route: Route,
        upstream_url: str | None,
        headers: RawHeaders,
        options: Mapping[str, Any] = MappingProxyType({}),
    ) -> UpstreamRequest:
        profile = options.get("aws_profile")
        try:
            credentials, profile_region = self.credentials.get(profile)
        except CredentialsUnavailable as exc:
            raise UpstreamSetupError(403, "authentication", str(exc)) from None
        region = self.region(request, options, profile_region)
        url = _base(upstream_url, region) + route.path + ("?" + request.query if request.query else "")
        # Signed last, over the very URL and body bytes that go out.
        signed = sign(request.method, url, headers, request.body, credentials, region)
        return UpstreamRequest(url=url, headers=signed, body=request.body)

    def usage(self, body: bytes, stream: bool) -> Usage | None:
        return bedrock_usage(body, stream)

    def stream_end(self, route: Route, headers: RawHeaders) -> StreamEnd | None:
        if not route.stream or encoded(headers):
            return None
        if not content_type(headers).startswith(b"application/vnd.amazon.eventstream"):
            return None
        return EventStreamFinalFrame()

    def stream_failed(self, body: bytes) -> bool:
        # Exception frames carry the header `:message-type` = `exception` (a string header, type 7).
        return b":message-type\x07\x00\texception" in body

    def error(self, status: int, kind: str, message: str, retry_after: float | None = None) -> ErrorReply:
        code = _ERROR_CODES.get(kind) or (
            "ValidationException" if status < 500 else "InternalServerException"
        )
        service = "com.amazon.coral.service" if code in _CORAL_SERVICE else "com.amazon.bedrock"
        extra: RawHeaders = [
            (b"x-amzn-errortype", f"{code}:http://internal.amazon.com/coral/{service}/".encode()),
            (b"x-amzn-requestid", str(uuid.uuid4()).encode()),
        ]
        if retry_after is not None:
            # botocore's standard retry mode reads x-amz-retry-after (milliseconds), not Retry-After.
            extra.append((b"x-amz-retry-after", str(int(retry_after * 1000)).encode()))
            extra.append((b"retry-after", str(max(1, round(retry_after))).encode()))
        return json_reply(status, aws_error_body(message), extra)


def _base(upstream_url: str | None, region: str) -> str:
    if upstream_url:
        return upstream_url.rstrip("/")
    return f"https://bedrock-runtime.{region}.amazonaws.com"


def _other_operation(path: str) -> str | None:
    if path.startswith("/guardrail/") and path.endswith("/apply"):
        return "apply_guardrail"
    if path == "/async-invoke" or path.startswith("/async-invoke/"):
        return "async_invoke"
    return None
