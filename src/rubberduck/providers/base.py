"""The provider adapter interface: everything that differs between provider wire APIs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar

from rubberduck.faults.ratelimit import Quota
from rubberduck.providers.stream_end import SseFinalEvent, StreamEnd
from rubberduck.types import RawHeaders


@dataclass(slots=True)
class Route:
    """What the proxy understood of a request; unknown paths still get a Route and pass through."""

    path: str  # the path to send upstream (may differ from the client's, e.g. OpenAI's /v1 prefix)
    operation: str | None = None  # chat, embeddings, messages, models, ... (None when unknown)
    model: str | None = None
    stream: bool = False


@dataclass(slots=True)
class Usage:
    model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_tokens: int | None = None


@dataclass(slots=True)
class ErrorReply:
    status: int
    headers: RawHeaders
    body: bytes


@dataclass(slots=True)
class UpstreamRequest:
    url: str
    headers: RawHeaders
    body: bytes


@dataclass(slots=True)
class RequestView:
    """The parts of a client request an adapter may look at."""

    method: str
    path: str  # as sent on the wire: percent-encoding kept (Bedrock model ids carry %3A and %2F)
    query: str
    headers: dict[str, str]  # lower-cased names; repeated headers joined with ", "
    body: bytes
    json: Any = None  # the parsed body when it is JSON, else None


class UpstreamSetupError(Exception):
    """The request cannot be sent upstream as configured (no credentials, no upstream for a region...).

    The forward stage answers it with the adapter's own error format, so the SDK raises its usual error.
    """

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message


# Error kinds understood by every adapter, by the HTTP status that carries them; each adapter maps
# them to its own type names and falls back to a generic type for a kind it does not know.
STATUS_KINDS = {
    400: "invalid_request",
    401: "authentication",
    403: "permission",
    404: "not_found",
    408: "request_timeout",
    409: "conflict",
    413: "request_too_large",
    422: "unprocessable",
    429: "rate_limit",
    500: "server_error",
    502: "bad_gateway",
    503: "unavailable",
    504: "timeout",
    529: "overloaded",
}
ERROR_KINDS = tuple(STATUS_KINDS.values())
# Not an HTTP status's kind: a request replay mode has no recording for (a 404 the SDKs do not retry),
# rendered by each adapter with `replay_miss` where its format has a type or code, so tests can tell it.
REPLAY_MISS = "replay_miss"


def kind_for_status(status: int) -> str:
    return STATUS_KINDS.get(status, "invalid_request" if status < 500 else "server_error")


class ProviderAdapter:
    """Base adapter. Subclasses override what their provider does differently."""

    name: ClassVar[str]
    label: ClassVar[str]
    default_upstream: ClassVar[str | None]
    upstream_required: ClassVar[bool] = False
    # Request headers that change the response and so belong in the cache key.
    key_headers: ClassVar[tuple[str, ...]] = ()
    # Query parameters that carry credentials and must never enter the cache key.
    secret_query_params: ClassVar[frozenset[str]] = frozenset()
    snippet: ClassVar[str] = ""
    # True when prepare_upstream may block (reading credentials, refreshing them over the network):
    # the forward stage then runs it in a worker thread, off the event loop every proxy shares.
    prepares_in_thread: ClassVar[bool] = False
    # Keys a proxy's `options` may hold for this provider (never secrets).
    option_keys: ClassVar[tuple[str, ...]] = ("upstream_timeout_seconds",)

    def validate_options(self, options: dict[str, Any]) -> None:
        """Raise ValueError naming the bad option."""
        timeout = options.get("upstream_timeout_seconds")
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 86_400
        ):  # the chained comparison is False for NaN too
            raise ValueError("upstream_timeout_seconds must be a number of seconds above 0, at most 86400")

    def route(self, request: RequestView) -> Route:
        body = request.json if isinstance(request.json, dict) else {}
        model = body.get("model")
        return Route(
            path=request.path,
            model=model if isinstance(model, str) else None,
            stream=body.get("stream") is True,
        )

    def upstream_base(self, upstream_url: str | None, request: RequestView) -> str:
        base = upstream_url or self.default_upstream
        if not base:
            raise UpstreamSetupError(502, "bad_gateway", f"provider {self.name} needs an upstream_url")
        return base.rstrip("/")

    def prepare_upstream(
        self,
        request: RequestView,
        route: Route,
        upstream_url: str | None,
        headers: RawHeaders,
        options: Mapping[str, Any] = MappingProxyType({}),
    ) -> UpstreamRequest:
        """Where and what to send; `options` are the proxy's own (e.g. an AWS profile and region)."""
        url = self.upstream_base(upstream_url, request) + route.path
        if request.query:
            url += "?" + request.query
        return UpstreamRequest(url=url, headers=headers, body=request.body)

    def error(self, status: int, kind: str, message: str, retry_after: float | None = None) -> ErrorReply:
        raise NotImplementedError

    def usage(self, body: bytes, stream: bool) -> Usage | None:
        return None

    def stream_failed(self, body: bytes) -> bool:
        """Whether a 200 stream carries the provider's mid-stream error: such a stream is not cached."""
        return False

    # How this provider's SSE streams end: the first line of a final event (`data: [DONE]`,
    # `event: message_stop`), or markers that all appear in a final event (Gemini's last chunk).
    final_event_lines: ClassVar[frozenset[bytes]] = frozenset()
    final_event_markers: ClassVar[tuple[bytes, ...]] = ()

    def stream_end(self, route: Route, headers: RawHeaders) -> StreamEnd | None:
        """A detector of the final event of this streamed answer; None leaves it to the end of the body.

        An encoded (gzip) stream is not inspected: its end of body is the only end it has.
        """
        if not route.stream or encoded(headers) or not content_type(headers).startswith(b"text/event-stream"):
            return None
        if not self.final_event_lines and not self.final_event_markers:
            return None
        return SseFinalEvent(self.final_event_lines, self.final_event_markers)

    def rate_limit_headers(self, quota: Quota) -> RawHeaders:
        """The provider's remaining-quota headers for a simulated rate limit (none by default)."""
        return []


def content_type(headers: RawHeaders) -> bytes:
    return next((value.lower() for name, value in headers if name.lower() == b"content-type"), b"")


def encoded(headers: RawHeaders) -> bool:
    """Whether the body carries a Content-Encoding other than identity."""
    return any(
        name.lower() == b"content-encoding" and value.strip().lower() not in (b"", b"identity")
        for name, value in headers
    )


def json_reply(status: int, payload: bytes, extra: RawHeaders | None = None) -> ErrorReply:
    headers: RawHeaders = [(b"content-type", b"application/json")]
    return ErrorReply(status=status, headers=headers + (extra or []), body=payload)


def retry_after_headers(retry_after: float | None) -> RawHeaders:
    if retry_after is None:
        return []
    return [(b"retry-after", str(max(1, round(retry_after))).encode())]
