"""SigV4 for the requests the proxy forwards to Bedrock, with the server's own AWS credentials.

A client's signature can never be forwarded: SigV4 signs the Host, and the client signed the proxy's
host:port. So the proxy drops it and signs again, over the exact bytes it sends, with credentials from
botocore's standard chain (environment, shared credentials/config files and profiles, SSO, container
and instance roles). Clients may therefore use dummy credentials.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rubberduck.types import RawHeaders

logger = logging.getLogger("rubberduck.bedrock")
# botocore's DEBUG records include canonical requests (with X-Amz-Security-Token) and credential
# provider calls: keep them out of a debug-level server log unless someone asked for them.
if logging.getLogger("botocore").level == logging.NOTSET:
    logging.getLogger("botocore").setLevel(logging.INFO)

# The service model's signingName: bedrock-runtime requests are signed for "bedrock".
SIGNING_NAME = "bedrock"
# The client's signature headers: stale for our request, and never to be mixed with our own.
CLIENT_SIGNATURE_HEADERS = frozenset(
    {b"authorization", b"x-amz-date", b"x-amz-security-token", b"x-amz-content-sha256"}
)
# "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/bedrock/aws4_request, ..." -> us-east-1
_SCOPE_REGION = re.compile(r"Credential=[^/,\s]+/\d{8}/([a-z0-9-]+)/")
# A failed lookup is remembered this long, so a proxy without credentials does not read the AWS
# files on every request, yet picks up credentials added later without a restart.
FAILURE_TTL_SECONDS = 30.0


class CredentialsUnavailable(Exception):
    """No usable AWS credentials for a profile; the message is safe to show (it holds no secret)."""


def client_region(authorization: str | None) -> str | None:
    """The region the client signed for, from its SigV4 credential scope."""
    if not authorization:
        return None
    match = _SCOPE_REGION.search(authorization)
    return match.group(1) if match else None


def env_region(environ: Mapping[str, str]) -> str | None:
    return environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or None


@dataclass(slots=True)
class _Resolved:
    credentials: Any  # botocore Credentials / RefreshableCredentials, or None after a failure
    region: str | None  # the profile's configured region, a last fallback
    error: str | None
    retry_at: float  # monotonic time after which a failure is looked up again


# botocore is imported on first use (it takes a quarter of a second): a process that never forwards to
# Bedrock, such as a headless openai proxy that must be ready at once, never loads it.
def _botocore_session(**kwargs: Any) -> Any:
    import botocore.session  # type: ignore[import-untyped]

    return botocore.session.Session(**kwargs)


def _describe(profile: str | None) -> str:
    return f"AWS profile {profile!r}" if profile else "the default AWS credential chain"


def _reason(exc: Exception) -> str:
    from botocore.exceptions import (  # type: ignore[import-untyped]
        ConfigNotFound,
        ConfigParseError,
        InvalidConfigError,
        PartialCredentialsError,
        ProfileNotFound,
    )

    # Failures whose botocore message names only profiles, files and variables: safe to show as is.
    # Others (a credential_process's output, an STS reply) are reported by their class name alone.
    safe = (ProfileNotFound, PartialCredentialsError, ConfigNotFound, ConfigParseError, InvalidConfigError)
    return f"{type(exc).__name__}: {exc}" if isinstance(exc, safe) else type(exc).__name__


class CredentialCache:
    """One botocore credential provider per profile, resolved on first use and then reused.

    Only the first request for a profile reads the AWS config files. botocore's refreshable
    credentials (SSO, assume-role, container and instance roles) renew themselves shortly before
    they expire. Nothing here is ever logged or stored: secrets stay inside botocore's objects.
    """

    def __init__(self, session_factory: Callable[..., Any] | None = None) -> None:
        self._session_factory = session_factory or _botocore_session
        self._resolved: dict[str | None, _Resolved] = {}

    def get(self, profile: str | None) -> tuple[Any, str | None]:
        """(frozen credentials with access_key/secret_key/token, the profile's region) or raise."""
        resolved = self._resolved.get(profile)
        if resolved is None or (resolved.error is not None and time.monotonic() >= resolved.retry_at):
            resolved = self._resolved[profile] = self._resolve(profile)
        if resolved.error is not None:
            raise CredentialsUnavailable(resolved.error)
        try:
            # A consistent key/secret/token triple; refreshes first when the credentials near expiry.
            frozen = resolved.credentials.get_frozen_credentials()
        except Exception as exc:  # any refresh failure (SSO, STS, IMDS) is the client's 403, not a crash
            self._resolved.pop(profile, None)  # look up from scratch next time
            logger.warning("could not refresh AWS credentials for %s (%s)", _describe(profile), _reason(exc))
            raise CredentialsUnavailable(
                f"Rubberduck could not refresh the AWS credentials of {_describe(profile)} ({_reason(exc)})."
            ) from None
        return frozen, resolved.region

    def _resolve(self, profile: str | None) -> _Resolved:
        failed_until = time.monotonic() + FAILURE_TTL_SECONDS
        try:
            session = self._session_factory(profile=profile)
            credentials = session.get_credentials()
            region = session.get_config_variable("region")
        except Exception as exc:  # a broken config must answer the client, not crash the request
            reason = _reason(exc)
            logger.warning("no AWS credentials for %s (%s)", _describe(profile), reason)
            return _Resolved(None, None, _no_credentials(profile, reason), failed_until)
        if credentials is None:
            logger.warning("no AWS credentials for %s", _describe(profile))
            return _Resolved(None, None, _no_credentials(profile, "none found"), failed_until)
        return _Resolved(credentials, region if isinstance(region, str) else None, None, 0.0)


def _no_credentials(profile: str | None, reason: str) -> str:
    return (
        f"Rubberduck found no AWS credentials for {_describe(profile)} ({reason}). The proxy signs "
        "requests to Bedrock itself: give the Rubberduck server AWS credentials (environment, "
        "~/.aws/credentials or a profile) or set the proxy's aws_profile option to a profile it has."
    )


def sign(
    method: str, url: str, headers: RawHeaders, body: bytes, credentials: Any, region: str
) -> RawHeaders:
    """The headers to send: the client's minus its signature, plus ours over exactly `url` and `body`.

    What botocore signs is what goes on the wire: the header list is read back from the signed
    request, and the URL is used as is (botocore encodes its path once more for the canonical URI,
    as AWS does on its side).
    """
    from botocore.auth import SigV4Auth  # type: ignore[import-untyped]
    from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]

    request = AWSRequest(method=method, url=url, data=body)
    for name, value in headers:
        if name.lower() not in CLIENT_SIGNATURE_HEADERS:
            request.headers[name.decode("latin-1")] = value.decode("latin-1")  # repeats kept
    SigV4Auth(credentials, SIGNING_NAME, region).add_auth(request)
    return [
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in request.headers.items()
    ]
