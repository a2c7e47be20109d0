"""The baseline: a bare ASGI app that answers every request with the same bytes the proxy replays.

It is also the proxy's upstream for the one cache miss that fills the cache.
"""

from __future__ import annotations

from typing import Any

BODY = (
    b'{"id":"chatcmpl-bench","object":"chat.completion","created":1747148049,"model":"gpt-4o-mini",'
    b'"choices":[{"index":0,"message":{"role":"assistant","content":"4"},"finish_reason":"stop"}],'
    b'"usage":{"prompt_tokens":12,"completion_tokens":1,"total_tokens":13}}'
)
HEADERS = [
    (b"content-type", b"application/json"),
    (b"x-request-id", b"req_bench"),
    (b"openai-processing-ms", b"120"),
    (b"content-length", str(len(BODY)).encode()),
]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:  # drain the request body like any real server
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
