"""Reading token usage out of response bodies, plain and streamed, for each provider's dialect.

Runs in the log writer, off the request path. Every function is total: a body it does not understand
gives None, never an exception.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from typing import Any

import orjson

from rubberduck.providers.base import Usage


def decode_body(body: bytes, content_encoding: str | None) -> bytes:
    """The body as the SDK sees it (the proxy forwards and caches the encoded bytes)."""
    encoding = (content_encoding or "").lower().strip()
    try:
        if encoding == "gzip" or body[:2] == b"\x1f\x8b":
            return gzip.decompress(body)
        if encoding == "deflate":
            return zlib.decompress(body)
    except (OSError, zlib.error, EOFError):
        return b""
    return body


def json_body(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def sse_payloads(body: bytes) -> Iterator[Any]:
    """The JSON `data:` payloads of an SSE stream, in order (non-JSON lines such as [DONE] skipped)."""
    for line in body.splitlines():
        if line.startswith(b"data:"):
            payload = json_body(line[5:].strip())
            if payload is not None:
                yield payload


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def openai_usage_block(usage: dict[str, Any], model: str | None) -> Usage:
    """Chat/completions (`prompt_tokens`) and Responses (`input_tokens`) shapes; cached tokens included."""
    details = _dict(usage.get("prompt_tokens_details")) or _dict(usage.get("input_tokens_details"))
    input_tokens = _int(usage.get("prompt_tokens"))
    if input_tokens is None:
        input_tokens = _int(usage.get("input_tokens"))
    output_tokens = _int(usage.get("completion_tokens"))
    if output_tokens is None:
        output_tokens = _int(usage.get("output_tokens"))
    if output_tokens is None and input_tokens is not None:
        output_tokens = 0  # embeddings have only prompt tokens
    return Usage(model, input_tokens, output_tokens, _int(details.get("cached_tokens")) or 0)


def openai_usage(body: bytes, stream: bool) -> Usage | None:
    documents = list(sse_payloads(body)) if stream else [json_body(body)]
    found: Usage | None = None
    model: str | None = None
    for document in documents:
        document = _dict(document)
        response = _dict(document.get("response"))  # Responses API events wrap the response
        model = document.get("model") or response.get("model") or model
        usage = _dict(document.get("usage")) or _dict(response.get("usage"))
        if usage:
            found = openai_usage_block(usage, model)
    if found is not None and found.model is None:
        found.model = model
    return found


def anthropic_usage(body: bytes, stream: bool) -> Usage | None:
    """input = uncached + cache reads + cache writes, so every provider reports input the same way."""
    usage: dict[str, Any] = {}
    model: str | None = None
    documents = list(sse_payloads(body)) if stream else [json_body(body)]
    for document in documents:
        document = _dict(document)
        message = _dict(document.get("message")) or document
        model = message.get("model") or model
        for source in (_dict(message.get("usage")), _dict(document.get("usage"))):
            usage.update({key: value for key, value in source.items() if value is not None})
    if not usage:
        return None
    cached = _int(usage.get("cache_read_input_tokens")) or 0
    created = _int(usage.get("cache_creation_input_tokens")) or 0
    input_tokens = _int(usage.get("input_tokens"))
    total_input = None if input_tokens is None else input_tokens + cached + created
    return Usage(model, total_input, _int(usage.get("output_tokens")), cached)


def google_usage(body: bytes, stream: bool) -> Usage | None:
    """`usageMetadata` of generateContent; a stream's last chunk carries the totals."""
    documents: list[Any] = list(sse_payloads(body)) if stream else [json_body(body)]
    if not stream and isinstance(documents[0], list):  # a JSON-array stream without alt=sse
        documents = documents[0]
    found: Usage | None = None
    model: str | None = None
    for document in documents:
        document = _dict(document)
        model = document.get("modelVersion") or model
        metadata = _dict(document.get("usageMetadata"))
        if metadata:
            prompt = _int(metadata.get("promptTokenCount"))
            if prompt is None:
                prompt = _int(metadata.get("totalTokens"))  # countTokens
            output = (_int(metadata.get("candidatesTokenCount")) or 0) + (
                _int(metadata.get("thoughtsTokenCount")) or 0
            )
            found = Usage(model, prompt, output, _int(metadata.get("cachedContentTokenCount")) or 0)
    return found
