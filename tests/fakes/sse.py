"""Split a recorded Server-Sent-Events body into whole events, so a fake can send one event per chunk."""

from __future__ import annotations

import re

# An event ends at an empty line. Recordings use LF (OpenAI, Anthropic) or CRLF (Gemini/Vertex); a lone CR
# is legal SSE too. CRLF is tried first so "\r\n\r\n" is never cut in the middle.
_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")


def split_sse_events(body: bytes) -> list[bytes]:
    """Return the events of `body`, each still ending with its blank line; b"".join() gives `body` back."""
    events: list[bytes] = []
    start = 0
    for match in _EVENT_END.finditer(body):
        events.append(body[start : match.end()])
        start = match.end()
    if start < len(body):  # an unterminated tail is kept so that no recorded byte is lost
        events.append(body[start:])
    return events
