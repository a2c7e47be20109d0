"""What Vertex AI and the Gemini Developer API share: resource paths, `:method` verbs, the error body."""

from __future__ import annotations

import re
from urllib.parse import unquote

import orjson

from rubberduck.providers.base import REPLAY_MISS, ErrorReply, ProviderAdapter, RequestView, Route, Usage
from rubberduck.providers.usage import google_usage, sse_payloads

# google.rpc.Code names by our error kind. The HTTP status stays the one we were asked for; this is
# the `status` string the SDK exposes as `APIError.status`.
GOOGLE_STATUS = {
    "invalid_request": "INVALID_ARGUMENT",
    "authentication": "UNAUTHENTICATED",
    "permission": "PERMISSION_DENIED",
    "not_found": "NOT_FOUND",
    "request_too_large": "INVALID_ARGUMENT",
    "rate_limit": "RESOURCE_EXHAUSTED",
    "server_error": "INTERNAL",
    "bad_gateway": "UNAVAILABLE",
    "unavailable": "UNAVAILABLE",
    "timeout": "DEADLINE_EXCEEDED",
    "overloaded": "UNAVAILABLE",  # Gemini's "The model is overloaded" is a 503 UNAVAILABLE
    "request_timeout": "DEADLINE_EXCEEDED",
    "conflict": "ABORTED",
    "unprocessable": "INVALID_ARGUMENT",  # Google has no 422: a bad value is INVALID_ARGUMENT
    # A real google.rpc.Code (SDKs switch on it); the reason travels as an ErrorInfo detail.
    "replay_miss": "NOT_FOUND",
}

# For a kind we do not know, the canonical google.rpc.Code of the HTTP status (AIP-193).
_STATUS_BY_HTTP = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

# Google's own APIs accept credentials in these query parameters (`?key=` API keys, OAuth tokens).
GOOGLE_SECRET_QUERY_PARAMS = frozenset({"key", "access_token"})

# `:method` verbs whose answer is a stream (SSE with alt=sse, else a JSON array sent piece by piece).
_STREAM_PREFIXES = ("stream", "serverStreaming")

_VERSION = re.compile(r"v\d+(?:(?:alpha|beta)\d*)?")  # v1, v1beta, v1beta1, v1alpha

# Collections whose next segment names a model, e.g. models/gemini-2.0-flash, tunedModels/my-model.
_MODEL_COLLECTIONS = frozenset({"models", "tunedModels"})


def google_status(status: int, kind: str) -> str:
    if kind in GOOGLE_STATUS:
        return GOOGLE_STATUS[kind]
    if status in _STATUS_BY_HTTP:
        return _STATUS_BY_HTTP[status]
    return "INTERNAL" if status >= 500 else "FAILED_PRECONDITION"


def google_error(status: int, kind: str, message: str, retry_after: float | None = None) -> ErrorReply:
    """`{"error": {"code", "message", "status"}}`, which google-genai raises as ClientError/ServerError.

    Google sends no Retry-After header; a retry hint travels as a google.rpc.RetryInfo detail.
    """
    error: dict[str, object] = {"code": status, "message": message, "status": google_status(status, kind)}
    if retry_after is not None:
        delay = f"{max(1, round(retry_after))}s"
        error["details"] = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}]
    elif kind == REPLAY_MISS:
        error["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "REPLAY_MISS",
                "domain": "rubberduck",
            }
        ]
    # Google answers with this exact content type (recorded); the SDK only needs it to be JSON.
    return ErrorReply(
        status, [(b"content-type", b"application/json; charset=UTF-8")], orjson.dumps({"error": error})
    )


def resource_segments(path: str) -> list[str]:
    """The decoded path segments after the version (`/v1beta1/projects/p/...` -> ["projects", "p", ...]).

    Clients other than google-genai may percent-encode the `:` of the verb, so parse the decoded form.
    """
    segments = [unquote(part) for part in path.split("/") if part]
    if segments and segments[0] == "upload":  # /upload/v1beta/files: the media upload endpoint
        segments = segments[1:]
    return segments[1:] if segments and _VERSION.fullmatch(segments[0]) else segments


def parse_resource(path: str) -> tuple[str | None, str | None]:
    """(operation, model) of a Google REST path.

    The operation is the custom method after the colon (generateContent, streamGenerateContent,
    countTokens, embedContent, predict, ...); a plain resource path is named by its last collection
    (`.../cachedContents/abc` -> cachedContents).
    """
    segments = resource_segments(path)
    if not segments:
        return None, None
    operation: str | None = None
    last = segments[-1]
    if ":" in last:
        segments[-1], operation = last.rsplit(":", 1)
    model = None
    for index, segment in enumerate(segments[:-1]):
        if segment in _MODEL_COLLECTIONS:
            model = segments[index + 1]
    if operation is None:
        # Resource names alternate collection/id: the collections sit at even positions.
        operation = segments[-1] if len(segments) % 2 else segments[-2]
    return operation or None, model or None


class GoogleAdapter(ProviderAdapter):
    """The route and error rules both Google adapters share; each adds its own upstream and snippet."""

    secret_query_params = GOOGLE_SECRET_QUERY_PARAMS
    # A native stream has no terminator: its last chunk is the one with a finishReason (and the
    # totals). The OpenAI-compatible endpoint ends with [DONE], Claude's rawPredict with message_stop.
    final_event_lines = frozenset({b"data: [DONE]", b"event: message_stop"})
    final_event_markers = (b'"finishReason":', b'"usageMetadata":')

    def route(self, request: RequestView) -> Route:
        # The base route reads `model` and `stream` from the body: right for Vertex's OpenAI-compatible
        # endpoint (/endpoints/openapi/chat/completions); the path names them for the native API.
        route = super().route(request)
        operation, model = parse_resource(request.path)
        route.operation = operation
        route.model = model or route.model
        if operation is not None and operation.startswith(_STREAM_PREFIXES):
            route.stream = True
        return route

    def error(self, status: int, kind: str, message: str, retry_after: float | None = None) -> ErrorReply:
        return google_error(status, kind, message, retry_after)

    def usage(self, body: bytes, stream: bool) -> Usage | None:
        return google_usage(body, stream)

    def stream_failed(self, body: bytes) -> bool:
        return any(isinstance(event, dict) and "error" in event for event in sse_payloads(body))
