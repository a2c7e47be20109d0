"""OpenAI (api.openai.com) and any OpenAI-compatible upstream."""

from __future__ import annotations

from typing import ClassVar

import orjson

from rubberduck.faults.ratelimit import Quota
from rubberduck.providers.base import (
    ErrorReply,
    ProviderAdapter,
    RequestView,
    Route,
    Usage,
    json_reply,
    retry_after_headers,
)
from rubberduck.providers.usage import openai_usage, sse_payloads
from rubberduck.types import RawHeaders

# The `type` and `code` values OpenAI puts in its error bodies, by our error kind.
_OPENAI_ERRORS: dict[str, tuple[str, str | None]] = {
    "invalid_request": ("invalid_request_error", None),
    "authentication": ("invalid_request_error", "invalid_api_key"),
    "permission": ("invalid_request_error", "unsupported_country_region_territory"),
    "not_found": ("invalid_request_error", "not_found"),
    "request_too_large": ("invalid_request_error", "request_too_large"),
    "rate_limit": ("requests", "rate_limit_exceeded"),
    "server_error": ("server_error", None),
    "bad_gateway": ("server_error", "bad_gateway"),
    "unavailable": ("server_error", "service_unavailable"),
    "timeout": ("server_error", "timeout"),
    "overloaded": ("server_error", "overloaded"),
    "request_timeout": ("invalid_request_error", "timeout"),
    "conflict": ("invalid_request_error", "conflict"),
    "unprocessable": ("invalid_request_error", None),
    "replay_miss": ("replay_miss", "replay_miss"),
}

# First path segment after /v1 -> operation name for logs and metrics.
_OPERATIONS = {
    "chat": "chat",
    "completions": "completions",
    "responses": "responses",
    "embeddings": "embeddings",
    "models": "models",
    "images": "images",
    "audio": "audio",
    "moderations": "moderations",
    "files": "files",
    "batches": "batches",
}


def operation_for(path: str) -> str | None:
    """`/v1/chat/completions` -> "chat"; the segment after /v1 names the operation."""
    parts = path.split("/", 3)  # ["", "v1", "chat", "completions"]
    return _OPERATIONS.get(parts[2]) if len(parts) > 2 else None


def openai_error_body(kind: str, message: str) -> bytes:
    error_type, code = _OPENAI_ERRORS.get(kind, ("server_error", None))
    return orjson.dumps({"error": {"message": message, "type": error_type, "param": None, "code": code}})


class OpenAIAdapter(ProviderAdapter):
    name = "openai"
    label = "OpenAI"
    default_upstream: ClassVar[str | None] = "https://api.openai.com"
    snippet = (
        "from openai import OpenAI\n\n"
        'client = OpenAI(base_url="{proxy_url}/v1", api_key="sk-...")\n'
        'client.chat.completions.create(model="{model}", messages=[{{"role": "user", "content": "Hi"}}])\n'
    )
    # Chat and completions end with `data: [DONE]`; the Responses API with its terminal event.
    final_event_lines = frozenset(
        {
            b"data: [DONE]",
            b"event: response.completed",
            b"event: response.incomplete",
            b"event: response.failed",
        }
    )

    def route(self, request: RequestView) -> Route:
        route = super().route(request)
        # The SDK with base_url="http://host:port" (no /v1) sends /chat/completions: put /v1 back.
        if not (request.path == "/v1" or request.path.startswith("/v1/")):
            route.path = "/v1" + request.path
        route.operation = operation_for(route.path)
        return route

    def error(self, status: int, kind: str, message: str, retry_after: float | None = None) -> ErrorReply:
        extra = retry_after_headers(retry_after)
        if retry_after is not None:
            extra.append((b"retry-after-ms", str(int(retry_after * 1000)).encode()))
        return json_reply(status, openai_error_body(kind, message), extra)

    def rate_limit_headers(self, quota: Quota) -> RawHeaders:
        return openai_rate_limit_headers(quota)

    def usage(self, body: bytes, stream: bool) -> Usage | None:
        return openai_usage(body, stream)

    def stream_failed(self, body: bytes) -> bool:
        # The SDK raises APIError for a data event carrying "error"; the Responses API sends
        # `response.failed` / `error` events.
        return any(
            isinstance(event, dict)
            and (("error" in event and event.get("error")) or event.get("type") == "response.failed")
            for event in sse_payloads(body)
        )


def duration(seconds: float) -> str:
    """OpenAI's reset format (Go's durations), to the millisecond: `6m0s`, `1m26.4s`, `6s`, `20ms`, `0s`."""
    milliseconds = max(0, round(seconds * 1000))
    if milliseconds < 1000:
        return f"{milliseconds}ms" if milliseconds else "0s"
    minutes, rest = divmod(milliseconds, 60_000)
    text = f"{rest / 1000:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{minutes}m{text}" if minutes else text


def openai_rate_limit_headers(quota: Quota) -> RawHeaders:
    headers: RawHeaders = []
    if quota.limit_requests is not None:
        headers += [
            (b"x-ratelimit-limit-requests", str(quota.limit_requests).encode()),
            (b"x-ratelimit-remaining-requests", str(quota.remaining_requests).encode()),
            (b"x-ratelimit-reset-requests", duration(quota.reset_requests_s).encode()),
        ]
    if quota.limit_tokens is not None:
        headers += [
            (b"x-ratelimit-limit-tokens", str(quota.limit_tokens).encode()),
            (b"x-ratelimit-remaining-tokens", str(quota.remaining_tokens).encode()),
            (b"x-ratelimit-reset-tokens", duration(quota.reset_tokens_s).encode()),
        ]
    return headers


class OpenAICompatibleAdapter(OpenAIAdapter):
    name = "openai_compatible"
    label = "OpenAI-compatible (DeepSeek, Groq, Ollama, vLLM, ...)"
    default_upstream = None
    upstream_required = True
