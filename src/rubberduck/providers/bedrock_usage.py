"""Token usage from Bedrock answers: Converse JSON, InvokeModel bodies and their event streams."""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterator
from typing import Any

from rubberduck.providers.base import Usage
from rubberduck.providers.usage import anthropic_usage, json_body

_PRELUDE = struct.Struct(">III")  # total length, headers length, prelude CRC


def eventstream_payloads(data: bytes) -> Iterator[bytes]:
    """Payloads of `application/vnd.amazon.eventstream` frames (CRCs are the SDK's job, not ours)."""
    offset = 0
    while offset + _PRELUDE.size <= len(data):
        total, headers_length, _ = _PRELUDE.unpack_from(data, offset)
        if total < 16 or offset + total > len(data):
            return
        start = offset + _PRELUDE.size + headers_length
        yield data[start : offset + total - 4]
        offset += total


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _converse_usage(usage: dict[str, Any]) -> Usage:
    cached = _int(usage.get("cacheReadInputTokens")) or 0
    written = _int(usage.get("cacheWriteInputTokens")) or 0
    inputs = _int(usage.get("inputTokens"))
    return Usage(
        None, None if inputs is None else inputs + cached + written, _int(usage.get("outputTokens")), cached
    )


def bedrock_usage(body: bytes, stream: bool) -> Usage | None:
    if not stream:
        document = json_body(body)
        if not isinstance(document, dict):
            return None
        if isinstance(document.get("usage"), dict) and "inputTokens" in document["usage"]:
            return _converse_usage(document["usage"])  # Converse
        return anthropic_usage(body, False)  # InvokeModel with an Anthropic model body
    found: Usage | None = None
    anthropic_events: list[bytes] = []
    for payload in eventstream_payloads(body):
        event = json_body(payload)
        if not isinstance(event, dict):
            continue
        if isinstance(event.get("usage"), dict):  # ConverseStream's metadata event
            found = _converse_usage(event["usage"])
        chunk = event.get("bytes")  # InvokeModelWithResponseStream: base64 model events
        if isinstance(chunk, str):
            inner = base64.b64decode(chunk)
            anthropic_events.append(b"data: " + inner + b"\n\n")
            metrics = (json_body(inner) or {}).get("amazon-bedrock-invocationMetrics")
            if isinstance(metrics, dict):
                found = Usage(
                    None, _int(metrics.get("inputTokenCount")), _int(metrics.get("outputTokenCount")), 0
                )
    if found is None and anthropic_events:
        found = anthropic_usage(b"".join(anthropic_events), True)
    return found
