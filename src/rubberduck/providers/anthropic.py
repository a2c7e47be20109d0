"""Anthropic Messages API (api.anthropic.com)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
from rubberduck.providers.usage import anthropic_usage
from rubberduck.types import RawHeaders

_ANTHROPIC_ERROR_TYPES = {
    "invalid_request": "invalid_request_error",
    "authentication": "authentication_error",
    "permission": "permission_error",
    "not_found": "not_found_error",
    "request_too_large": "request_too_large",
    "rate_limit": "rate_limit_error",
    "server_error": "api_error",
    "bad_gateway": "api_error",
    "unavailable": "api_error",
    "timeout": "timeout_error",
    "overloaded": "overloaded_error",
    "request_timeout": "timeout_error",
    "conflict": "invalid_request_error",
    "unprocessable": "invalid_request_error",
    "replay_miss": "replay_miss",
}


def anthropic_operation(path: str) -> str | None:
    if path.startswith("/v1/messages/count_tokens"):
        return "count_tokens"
    if path.startswith("/v1/messages/batches"):
        return "batches"
    if path.startswith("/v1/messages"):
        return "messages"
    if path.startswith("/v1/complete"):
        return "completions"
    if path.startswith("/v1/models"):
        return "models"
    return None


class AnthropicAdapter(ProviderAdapter):
    name = "anthropic"
    label = "Anthropic"
    default_upstream = "https://api.anthropic.com"
    # Betas and API versions change the response shape, so they must change the cache key.
    key_headers = ("anthropic-version", "anthropic-beta")
    final_event_lines = frozenset({b"event: message_stop"})
    snippet = (
        "from anthropic import Anthropic\n\n"
        'client = Anthropic(base_url="{proxy_url}", api_key="sk-ant-...")\n'
        'client.messages.create(model="{model}", max_tokens=256,\n'
        '                       messages=[{{"role": "user", "content": "Hi"}}])\n'
    )

    def route(self, request: RequestView) -> Route:
        route = super().route(request)
        route.operation = anthropic_operation(request.path)
        return route

    def error(self, status: int, kind: str, message: str, retry_after: float | None = None) -> ErrorReply:
        error_type = _ANTHROPIC_ERROR_TYPES.get(kind, "api_error")
        body = orjson.dumps({"type": "error", "error": {"type": error_type, "message": message}})
        extra = retry_after_headers(retry_after)
        extra.append((b"x-should-retry", b"true" if status in (408, 409, 429) or status >= 500 else b"false"))
        return json_reply(status, body, extra)

    def usage(self, body: bytes, stream: bool) -> Usage | None:
        return anthropic_usage(body, stream)

    def stream_failed(self, body: bytes) -> bool:
        return b"event: error" in body

    def rate_limit_headers(self, quota: Quota) -> RawHeaders:
        """Anthropic reports resets as RFC 3339 timestamps."""
        now = datetime.now(UTC)
        headers: RawHeaders = []
        for kind, limit, remaining, reset in (
            ("requests", quota.limit_requests, quota.remaining_requests, quota.reset_requests_s),
            ("tokens", quota.limit_tokens, quota.remaining_tokens, quota.reset_tokens_s),
        ):
            if limit is None:
                continue
            stamp = (now + timedelta(seconds=reset)).strftime("%Y-%m-%dT%H:%M:%SZ")
            headers += [
                (f"anthropic-ratelimit-{kind}-limit".encode(), str(limit).encode()),
                (f"anthropic-ratelimit-{kind}-remaining".encode(), str(remaining).encode()),
                (f"anthropic-ratelimit-{kind}-reset".encode(), stamp.encode()),
            ]
        return headers
