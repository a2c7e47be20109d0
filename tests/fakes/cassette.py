"""Load recorded provider exchanges (VCR cassettes) (tests/fixtures/recordings) into one normalised shape.

The corpus mixes three YAML dialects (see tests/fixtures/recordings/SOURCES.md); a replayer must not care which one a
file uses, so every interaction becomes a `Recording` whose body is exactly the bytes to put on the wire
and whose headers describe that body truthfully.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

GZIP_MAGIC = b"\x1f\x8b"

# Hop-by-hop headers described the recorder's TCP connection, not the response. content-length is dropped
# too: bodies may be re-serialised here, and the serving side always recomputes it.
_DROPPED_HEADERS = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "content-length"}
)

# The C loader is much faster on the large files (models_list.yaml); fall back when libyaml is missing.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Recording:
    method: str
    path: str  # URL path only, exactly as recorded (still percent-encoded)
    query: str  # raw query string without "?"
    request_body: bytes
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        """First value of a response header, case-insensitively (None when absent)."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)


def corpus_dir() -> Path:
    # The recordings travel with the repo (tests/fixtures/recordings), so a lone clone's suite has them.
    override = os.environ.get("RUBBERDUCK_CORPUS_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[1] / "fixtures" / "recordings"


def corpus_path(provider: str, name: str) -> Path:
    filename = name if name.endswith(".yaml") else f"{name}.yaml"
    return corpus_dir() / provider / filename


def recordings(provider: str, name: str) -> list[Recording]:
    return load_cassette(corpus_path(provider, name))


def load_cassette(path: str | os.PathLike[str]) -> list[Recording]:
    with open(path, encoding="utf-8") as fh:
        document = yaml.load(fh, Loader=_Loader)  # _Loader is always a *safe* loader
    return [_recording(item["request"], item["response"]) for item in document["interactions"]]


def _recording(request: dict[str, Any], response: dict[str, Any]) -> Recording:
    url = urlsplit(request["uri"])
    if "content" in response:  # old httpx stub: text already decoded, Content-Encoding header left behind
        body, decoded = _to_bytes(response["content"]), True
    elif "parsed_body" in response:  # pydantic-ai: JSON re-serialised by the recorder
        body, decoded = _compact_json(response["parsed_body"]), True
    else:  # vcrpy standard: text, or !!binary raw wire bytes (gzip, AWS eventstream)
        body, decoded = _to_bytes((response.get("body") or {}).get("string")), False
    status = response["status"]["code"] if "status" in response else response["status_code"]
    return Recording(
        method=request["method"].upper(),
        path=url.path,
        query=url.query,
        request_body=_request_body(request),
        status=int(status),
        headers=_headers(response.get("headers") or {}, body, decoded),
        body=body,
    )


def _request_body(request: dict[str, Any]) -> bytes:
    if "parsed_body" in request:
        return _compact_json(request["parsed_body"])
    body = request.get("body")
    if isinstance(body, dict):  # some vcrpy versions nest the request body like the response one
        body = body.get("string")
    return _to_bytes(body)


def _headers(raw: dict[str, Any], body: bytes, decoded: bool) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    for name, values in raw.items():
        lower = name.lower()
        if lower in _DROPPED_HEADERS or lower.startswith("proxy-"):
            continue
        # A Content-Encoding that no longer matches the stored bytes would make clients fail to decode.
        if lower == "content-encoding" and (decoded or not body.startswith(GZIP_MAGIC)):
            continue
        for value in values if isinstance(values, list) else [values]:
            headers.append((name, str(value)))
    return headers


def _to_bytes(value: str | bytes | None) -> bytes:
    if value is None:
        return b""
    return value if isinstance(value, bytes) else value.encode("utf-8")


def _compact_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
