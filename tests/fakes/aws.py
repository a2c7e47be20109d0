"""Fake AWS credentials for the test server, and a SigV4 check for fake Bedrock upstreams.

The test server gets these (made-up) credentials through its environment and a temporary shared
credentials file; a fake upstream recomputes each request's signature with botocore and the same
secrets, the way AWS would, so a test fails if the proxy forwards a stale or client-made signature.
"""

from __future__ import annotations

import hmac
import re
import sys
import time
from calendar import timegm
from pathlib import Path

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials

from tests.fakes.upstream import FakeRequest, FakeResponse

# The default chain of the test server: environment variables, with a session token.
ENV_ACCESS_KEY = "AKIARUBBERDUCKENV0001"
ENV_SECRET_KEY = "rdEnvSecret/NotReal/0123456789abcdefGHIJ"
ENV_SESSION_TOKEN = "rdEnvSessionToken/NotReal/FwoGZXIvYXdzEXAMPLE"
# A named profile in the test server's shared credentials file, with its own region in the config.
PROFILE = "rubberduck-test"
PROFILE_ACCESS_KEY = "AKIARUBBERDUCKPROF001"
PROFILE_SECRET_KEY = "rdProfileSecret/NotReal/9876543210zyxw"
PROFILE_REGION = "eu-west-3"
# A profile whose credential_process announces itself (a marker file), then takes this long.
SLOW_PROFILE = "rubberduck-slow"
SLOW_SECONDS = 2.0

SECRETS = {ENV_ACCESS_KEY: ENV_SECRET_KEY, PROFILE_ACCESS_KEY: PROFILE_SECRET_KEY}
SESSION_TOKENS = {ENV_ACCESS_KEY: ENV_SESSION_TOKEN}
ALL_SECRETS = (ENV_SECRET_KEY, ENV_SESSION_TOKEN, PROFILE_SECRET_KEY)

_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<day>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)"
    r"/aws4_request, SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})"
)


def slow_marker(directory: Path) -> Path:
    """Appears when the slow profile's credential_process starts."""
    return directory / "slow_credentials.started"


def aws_env(directory: Path) -> dict[str, str]:
    """Environment for a test server: fake default credentials plus a fake named profile.

    Instance-metadata lookups are switched off so a profile without credentials fails at once
    instead of reaching for 169.254.169.254.
    """
    directory.mkdir(parents=True, exist_ok=True)
    credentials = directory / "credentials"
    credentials.write_text(
        f"[{PROFILE}]\naws_access_key_id = {PROFILE_ACCESS_KEY}\naws_secret_access_key = {PROFILE_SECRET_KEY}\n"
    )
    config = directory / "config"
    slow = directory / "slow_credentials.py"
    slow.write_text(
        "import json, pathlib, sys, time\n"
        "pathlib.Path(sys.argv[1]).touch()\n"
        f"time.sleep({SLOW_SECONDS})\n"
        f"print(json.dumps({{'Version': 1, 'AccessKeyId': {PROFILE_ACCESS_KEY!r}, "
        f"'SecretAccessKey': {PROFILE_SECRET_KEY!r}}}))\n"
    )
    # An empty [default] so that AWS_PROFILE=default (set to override the caller's own) resolves.
    config.write_text(
        f"[default]\n[profile {PROFILE}]\nregion = {PROFILE_REGION}\n"
        f"[profile {SLOW_PROFILE}]\nregion = {PROFILE_REGION}\n"
        f"credential_process = {sys.executable} {slow} {slow_marker(directory)}\n"
    )
    return {
        "AWS_ACCESS_KEY_ID": ENV_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": ENV_SECRET_KEY,
        "AWS_SESSION_TOKEN": ENV_SESSION_TOKEN,
        "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
        "AWS_CONFIG_FILE": str(config),
        "AWS_PROFILE": "default",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def signature_problem(request: FakeRequest, *, max_skew_seconds: float = 300) -> str | None:
    """None when `request` is SigV4-signed for Bedrock with one of the fake secrets, else what is wrong."""
    match = _AUTHORIZATION.fullmatch(request.headers.get("authorization", ""))
    if match is None:
        return "missing or malformed SigV4 Authorization header"
    key = match["key"]
    if key not in SECRETS:
        return f"unknown access key id {key!r}"
    if match["service"] != "bedrock":
        return f"signed for service {match['service']!r}, not 'bedrock'"
    signed = match["signed"].split(";")
    for required in ("host", "x-amz-date", *(["x-amz-security-token"] if key in SESSION_TOKENS else [])):
        if required not in signed:
            return f"{required} is not signed"
    if key in SESSION_TOKENS and request.headers.get("x-amz-security-token") != SESSION_TOKENS[key]:
        return "wrong or missing session token"
    stamp = request.headers.get("x-amz-date", "")
    if not stamp.startswith(match["day"]):
        return "x-amz-date does not match the credential scope"
    if abs(time.time() - timegm(time.strptime(stamp, "%Y%m%dT%H%M%SZ"))) > max_skew_seconds:
        return "x-amz-date is too far from now"
    # Rebuild the request as AWS sees it: the raw path and query exactly as they arrived.
    url = f"http://{request.headers['host']}{request.path}" + (f"?{request.query}" if request.query else "")
    aws_request = AWSRequest(method=request.method, url=url, data=request.body)
    for name in signed:
        if name not in request.headers:
            return f"signed header {name} was not sent"
        aws_request.headers[name] = request.headers[name]
    aws_request.context["timestamp"] = stamp
    signer = SigV4Auth(ReadOnlyCredentials(key, SECRETS[key], None), "bedrock", match["region"])
    expected = signer.signature(
        signer.string_to_sign(aws_request, signer.canonical_request(aws_request)), aws_request
    )
    if not hmac.compare_digest(expected, match["signature"]):
        return "signature does not match"
    return None


def invalid_signature(problem: str) -> FakeResponse:
    """What AWS answers to a bad signature (the code boto3 reads is in x-amzn-ErrorType)."""
    return FakeResponse.json(
        403,
        {"message": f"fake AWS: {problem}"},
        [
            (
                "x-amzn-ErrorType",
                "InvalidSignatureException:http://internal.amazon.com/coral/com.amazon.coral.service/",
            ),
            ("x-amzn-RequestId", "00000000-0000-0000-0000-000000000403"),
        ],
    )
