"""Re-signing forwarded Bedrock requests: what is signed is what is sent, and secrets stay put."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.credentials import ReadOnlyCredentials
from botocore.exceptions import CredentialRetrievalError, ProfileNotFound

from rubberduck.providers import bedrock_signing
from rubberduck.providers.bedrock_signing import CredentialCache, CredentialsUnavailable, client_region, sign
from tests.fakes import aws
from tests.fakes.upstream import FakeRequest

URL = "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke"
BODY = b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}'
ENV_CREDENTIALS = ReadOnlyCredentials(aws.ENV_ACCESS_KEY, aws.ENV_SECRET_KEY, aws.ENV_SESSION_TOKEN)
CLIENT_HEADERS = [
    (b"content-type", b"application/json"),
    (b"user-agent", b"Boto3/1.44.8"),
    (b"amz-sdk-request", b"attempt=1; max=3"),
    (b"authorization", b"AWS4-HMAC-SHA256 Credential=AKIDCLIENT/20240101/us-east-1/bedrock/aws4_request, x"),
    (b"x-amz-date", b"20240101T000000Z"),
    (b"x-amz-security-token", b"client-token"),
    (b"x-amz-content-sha256", b"UNSIGNED-PAYLOAD"),
]


def as_received(url: str, headers: list[tuple[bytes, bytes]], body: bytes) -> FakeRequest:
    """The request as the upstream sees it (the HTTP client adds the Host header from the URL)."""
    parts = urlsplit(url)
    received = {name.decode(): value.decode() for name, value in headers}
    received["host"] = parts.netloc
    return FakeRequest("POST", parts.path, parts.query, received, body)


def test_signature_verifies_like_aws_and_replaces_the_clients() -> None:
    signed = sign("POST", URL, CLIENT_HEADERS, BODY, ENV_CREDENTIALS, "us-east-1")
    names = [name for name, _ in signed]
    for name in (b"authorization", b"x-amz-date", b"x-amz-security-token"):
        assert names.count(name) == 1
    headers = dict(signed)
    assert headers[b"x-amz-security-token"] == aws.ENV_SESSION_TOKEN.encode()
    assert b"x-amz-content-sha256" not in headers  # SigV4Auth does not send it (only S3's signer does)
    assert headers[b"x-amz-date"] != b"20240101T000000Z"
    authorization = headers[b"authorization"].decode()
    assert f"Credential={aws.ENV_ACCESS_KEY}/" in authorization and "/us-east-1/bedrock/" in authorization
    assert "SignedHeaders=amz-sdk-request;content-type;host;x-amz-date;x-amz-security-token," in authorization
    assert aws.signature_problem(as_received(URL, signed, BODY)) is None


def test_signature_covers_body_path_encoding_and_headers() -> None:
    signed = sign("POST", URL, CLIENT_HEADERS, BODY, ENV_CREDENTIALS, "us-east-1")
    assert aws.signature_problem(as_received(URL, signed, BODY + b" ")) == "signature does not match"
    # The canonical URI encodes the sent path once more: %3A and a raw ":" sign differently.
    colon = URL.replace("%3A", ":")
    assert aws.signature_problem(as_received(colon, signed, BODY)) == "signature does not match"
    changed = [(n, b"text/plain" if n == b"content-type" else v) for n, v in signed]
    assert aws.signature_problem(as_received(URL, changed, BODY)) == "signature does not match"
    # User-Agent is never signed, so a client library may rewrite it freely.
    agent = [(n, b"other" if n == b"user-agent" else v) for n, v in signed]
    assert aws.signature_problem(as_received(URL, agent, BODY)) is None


def test_query_and_token_free_credentials() -> None:
    url = "http://127.0.0.1:8123/async-invoke?maxResults=5&statusEquals=Completed"
    credentials = ReadOnlyCredentials(aws.PROFILE_ACCESS_KEY, aws.PROFILE_SECRET_KEY, None)
    signed = sign("GET", url, CLIENT_HEADERS, b"", credentials, "eu-west-3")
    assert b"x-amz-security-token" not in dict(signed)  # the client's token is not ours to send
    request = as_received(url, signed, b"")
    assert (
        aws.signature_problem(FakeRequest("GET", request.path, request.query, request.headers, b"")) is None
    )


@pytest.mark.parametrize(
    ("authorization", "region"),
    [
        (
            "AWS4-HMAC-SHA256 Credential=AKID/20240101/eu-central-1/bedrock/aws4_request, Sig=x",
            "eu-central-1",
        ),
        ("AWS4-HMAC-SHA256 Credential=AKID/20240101/us-gov-west-1/bedrock/aws4_request", "us-gov-west-1"),
        ("Bearer abc", None),
        ("", None),
        (None, None),
    ],
)
def test_client_region_from_the_credential_scope(authorization: str | None, region: str | None) -> None:
    assert client_region(authorization) == region


class FakeSession:
    """Stands in for botocore.session.Session; counts how often a profile is resolved."""

    created: list[str | None]

    def __init__(self, profile: str | None = None) -> None:
        type(self).created.append(profile)
        if profile == "missing":
            raise ProfileNotFound(profile=profile)
        self.profile = profile

    def get_credentials(self) -> Any:
        if self.profile == "empty":
            return None
        frozen = ReadOnlyCredentials(aws.PROFILE_ACCESS_KEY, aws.PROFILE_SECRET_KEY, None)
        return SimpleNamespace(get_frozen_credentials=lambda: frozen)

    def get_config_variable(self, name: str) -> str | None:
        return aws.PROFILE_REGION if name == "region" and self.profile else None


@pytest.fixture
def cache() -> CredentialCache:
    FakeSession.created = []
    return CredentialCache(session_factory=FakeSession)


def test_credentials_are_resolved_once_per_profile(cache: CredentialCache) -> None:
    for _ in range(3):
        credentials, region = cache.get("team")
        assert credentials.access_key == aws.PROFILE_ACCESS_KEY and region == aws.PROFILE_REGION
        assert cache.get(None)[1] is None
    assert FakeSession.created == ["team", None]


@pytest.mark.parametrize(("profile", "reason"), [("missing", "ProfileNotFound"), ("empty", "none found")])
def test_failures_are_clear_and_remembered_for_a_while(
    cache: CredentialCache, monkeypatch: pytest.MonkeyPatch, profile: str, reason: str
) -> None:
    for _ in range(2):
        with pytest.raises(CredentialsUnavailable) as raised:
            cache.get(profile)
        message = str(raised.value)
        assert f"AWS profile '{profile}'" in message and reason in message
    assert FakeSession.created == [profile]  # the second failure came from memory
    now = bedrock_signing.time.monotonic()
    monkeypatch.setattr(
        bedrock_signing.time, "monotonic", lambda: now + bedrock_signing.FAILURE_TTL_SECONDS + 1
    )
    with pytest.raises(CredentialsUnavailable):
        cache.get(profile)
    assert FakeSession.created == [profile, profile]  # looked up again: credentials may exist now


def test_the_default_chain_is_named_in_its_error() -> None:
    class NoCredentials(FakeSession):
        def get_credentials(self) -> Any:
            return None

    NoCredentials.created = []
    with pytest.raises(CredentialsUnavailable, match="default AWS credential chain"):
        CredentialCache(session_factory=NoCredentials).get(None)


def test_refresh_failures_hide_details_and_resolve_again() -> None:
    class Expiring(FakeSession):
        def get_credentials(self) -> Any:
            def refresh() -> Any:
                raise CredentialRetrievalError(provider="custom-process", error_msg="token=LEAKED-SECRET")

            return SimpleNamespace(get_frozen_credentials=refresh)

    Expiring.created = []
    cache = CredentialCache(session_factory=Expiring)
    for _ in range(2):
        with pytest.raises(CredentialsUnavailable) as raised:
            cache.get("sso")
        assert "CredentialRetrievalError" in str(raised.value) and "LEAKED" not in str(raised.value)
    assert Expiring.created == ["sso", "sso"]  # a failed refresh starts over from the profile


def test_a_debug_level_log_never_shows_the_session_token(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger: botocore would log its canonical request
    sign("POST", URL, CLIENT_HEADERS, BODY, ENV_CREDENTIALS, "us-east-1")
    assert aws.ENV_SESSION_TOKEN not in caplog.text
