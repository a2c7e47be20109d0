"""One recording as one JSON file: the document format, its path, and the atomic write.

A document is pretty-printed with sorted keys and ends in a newline, so exporting twice gives the same bytes
and a code review shows what changed. It holds what the key is made of (the canonical request, never a
credential: proxy/recording.py) and what a replay sends: status, the response headers on ALLOWED_HEADERS
only, and the body as its exact chunks (text where the bytes are UTF-8 text, base64 otherwise, with a
decoded form beside it for reading, ignored on import).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import re
import tempfile
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode

import orjson

from rubberduck.api.recording_view import EVENTSTREAM, response_view
from rubberduck.cache.entry import CachedResponse
from rubberduck.cache.key import cache_key
from rubberduck.cache.paths import IgnoreRules
from rubberduck.proxy.namespace import RULE as NAMESPACE_RULE

FORMAT: Final = "rubberduck-recording/1"
DEFAULT_DIR: Final = "_default"  # the default namespace ("") on disk
# The response headers a replay needs: what the SDKs read (boto3's InvokeModel* outputs read the Bedrock
# ones). Anything else (request ids, organisation/project ids, cookies, rate-limit headers) stays out.
ALLOWED_HEADERS: Final = frozenset(
    {
        "content-type",
        "content-encoding",
        "x-amzn-bedrock-content-type",
        "x-amzn-bedrock-performanceconfig-latency",
        "x-amzn-bedrock-service-tier",
    }
)
_NAMESPACE: Final = re.compile(r"[A-Za-z0-9._:-]{1,200}")
_KEY: Final = re.compile(r"[0-9a-f]{64}")
_OPERATION: Final = re.compile(r"[^A-Za-z0-9._-]")
_WBITS: Final = {"gzip": 31, "x-gzip": 31, "deflate": 15}
_TOP: Final = frozenset(
    {"format", "key", "namespace", "occurrence", "provider", "operation", "model", "created_at",
     "expires_at", "ignored", "request", "response"}
)  # fmt: skip
_RESPONSE: Final = frozenset({"status", "headers", "stream", "body", "events"})
_CHUNK: Final = frozenset({"offset_ms", "text", "base64", "decoded", "decoded_text"})
_REQUEST: Final = frozenset({"method", "path", "query", "headers", "body"})


class RecordingError(ValueError):
    """A recording file that cannot be used: the message says which field and why."""


# ---- entry → document ----------------------------------------------------------------------------------


def entry_to_document(entry: CachedResponse, provider: str) -> dict[str, Any]:
    """The file's content for an entry (which must carry its canonical request)."""
    headers = [
        [name.decode("latin-1").lower(), value.decode("latin-1")]
        for name, value in entry.headers
        if name.decode("latin-1").lower() in ALLOWED_HEADERS
    ]
    encoding = _header(headers, "content-encoding")
    response: dict[str, Any] = {"status": entry.status, "headers": headers, "stream": entry.stream}
    offsets = entry.offsets or ()
    if entry.stream:
        view = response_view(entry)
        views = view.events or []
        binary = (view.content_type or "").split(";")[0].strip().lower() == EVENTSTREAM
        response["events"] = [
            _chunk(
                chunk,
                offsets[i] if i < len(offsets) else None,
                encoding,
                views[i] if i < len(views) else None,
                binary,
            )
            for i, chunk in enumerate(entry.chunks)
        ]
    else:
        offset = offsets[-1] if offsets else None
        response["body"] = _chunk(b"".join(entry.chunks), offset, encoding, None)
    return {
        "format": FORMAT,
        "key": entry.key,
        "namespace": entry.namespace,
        "occurrence": entry.occurrence,
        "provider": provider,
        "operation": entry.operation,
        "model": entry.model,
        "created_at": _iso(entry.created_at),
        "expires_at": None if entry.expires_at is None else _iso(entry.expires_at),
        "ignored": list(entry.ignored),
        "request": entry.request,
        "response": response,
    }


def _chunk(
    data: bytes, offset: float | None, encoding: str | None, view: Any, binary: bool = False
) -> dict[str, Any]:
    out: dict[str, Any] = {"offset_ms": None if offset is None else round(offset * 1000, 3)}
    if encoding is None and not binary:
        try:
            out["text"] = data.decode("utf-8")
            return out
        except UnicodeDecodeError:
            pass
    out["base64"] = base64.b64encode(data).decode("ascii")
    if view is not None and view.frames is not None:  # Bedrock's event stream: its frames, decoded
        out["decoded"] = [frame.model_dump(exclude_none=True) for frame in view.frames]
    elif view is not None and view.data is not None:  # a content-encoded stream's chunk, decoded
        out["decoded_text"] = view.data
    elif view is None and encoding in _WBITS:
        with contextlib.suppress(zlib.error, UnicodeDecodeError):
            out["decoded_text"] = zlib.decompress(data, _WBITS[encoding]).decode("utf-8")
    return out


def _header(headers: list[list[str]], name: str) -> str | None:
    return next((value for key, value in headers if key == name), None)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def dump_document(document: dict[str, Any]) -> bytes:
    """Pretty (indent 2), sorted keys, a trailing newline: the same document always gives the same bytes."""
    return orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def path_for(root: Path, entry: CachedResponse) -> Path:
    """`root/<namespace or _default>/<operation or request>-<key[:12]>[-<occurrence>].json`."""
    folder = entry.namespace or DEFAULT_DIR
    operation = _OPERATION.sub("_", entry.operation) if entry.operation else "request"
    suffix = f"-{entry.occurrence}" if entry.occurrence > 1 else ""
    return root / folder / f"{operation}-{entry.key[:12]}{suffix}.json"


def write_atomic(path: Path, data: bytes) -> bool:
    """Write through a temp file in the same directory and os.replace: never a half-written file.

    Returns False (and writes nothing) when the file already holds exactly these bytes.
    """
    with contextlib.suppress(OSError):
        if path.read_bytes() == data:
            return False
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return True


def recording_files(root: Path) -> list[Path]:
    """Every recording file under root, in a stable order (temp files of a write in flight are not).

    A root that does not exist has none; an unreadable one raises OSError.
    """
    if not root.exists():
        return []
    if not os.access(root, os.R_OK | os.X_OK):
        raise PermissionError(13, "Permission denied", str(root))
    return sorted(path for path in root.rglob("*.json") if not path.name.startswith("."))


# ---- document → entry ----------------------------------------------------------------------------------


def read_document(path: Path) -> dict[str, Any]:
    try:
        document = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise RecordingError(f"invalid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise RecordingError("not a JSON object")
    return document


def document_to_entry(document: dict[str, Any]) -> CachedResponse:
    """The entry a document describes; RecordingError naming the first bad field."""
    if document.get("format") != FORMAT:
        raise RecordingError(f"format: expected {FORMAT!r}, found {document.get('format')!r}")
    _known(document, _TOP, "")
    key = _field(document, "key", str, "")
    if not _KEY.fullmatch(key):
        raise RecordingError("key: expected 64 lower-case hex digits")
    namespace = _field(document, "namespace", str, "")
    if namespace and not _NAMESPACE.fullmatch(namespace):
        raise RecordingError(f"namespace: a name is {NAMESPACE_RULE} (or empty for the default one)")
    occurrence = _field(document, "occurrence", int, "")
    if occurrence < 1:
        raise RecordingError("occurrence: expected 1 or more")
    _field(document, "provider", str, "")
    ignored = _field(document, "ignored", list, "")
    if not all(isinstance(path, str) for path in ignored):
        raise RecordingError("ignored: expected a list of paths")
    try:
        IgnoreRules(ignored)
    except ValueError as exc:
        raise RecordingError(f"ignored: {exc}") from None
    request = _request(document.get("request"))
    response = _field(document, "response", dict, "")
    _known(response, _RESPONSE, "response.")
    status = _field(response, "status", int, "response.")
    if not 100 <= status <= 599:
        raise RecordingError("response.status: expected an HTTP status (100-599)")
    headers = _headers(response.get("headers"))
    stream = _field(response, "stream", bool, "response.")
    if stream:
        events = _field(response, "events", list, "response.")
        if "body" in response:
            raise RecordingError("response.body: a stream has events, not a body")
        parts = [_chunk_bytes(event, f"response.events[{i}]") for i, event in enumerate(events)]
    else:
        if "events" in response:
            raise RecordingError("response.events: a plain answer has a body, not events")
        parts = [_chunk_bytes(_field(response, "body", dict, "response."), "response.body")]
    offsets = [offset for _, offset in parts]
    return CachedResponse(
        status,
        headers,
        tuple(data for data, _ in parts),
        stream,
        key=key,
        namespace=namespace,
        occurrence=occurrence,
        operation=_optional(document, "operation"),
        model=_optional(document, "model"),
        request=request,
        ignored=tuple(ignored),
        offsets=tuple(o for o in offsets if o is not None) if all(o is not None for o in offsets) else None,
        expires_at=_time(document.get("expires_at"), "expires_at", optional=True),
        created_at=_time(document.get("created_at"), "created_at", optional=False) or 0.0,
    )


def key_problem(entry: CachedResponse) -> str | None:
    """Why the entry's key is not the one its canonical request, namespace and ignore paths give (or None)."""
    request = entry.request or {}
    expected = cache_key(
        request["method"],
        request["path"],
        urlencode([(name, value) for name, value in request["query"]]),
        IgnoreRules(entry.ignored).apply(request["body"]),
        key_headers=list(request["headers"].items()),
        namespace=entry.namespace,
    )
    if expected != entry.key:
        return f"key: {entry.key} does not match its request (which gives {expected})"
    return None


def _known(value: dict[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise RecordingError(f"{where}{unknown[0]}: unknown field")


def _field(value: dict[str, Any], name: str, kind: type, where: str) -> Any:
    if name not in value:
        raise RecordingError(f"{where}{name}: missing")
    found = value[name]
    # bool is an int to Python, never to a recording
    if not isinstance(found, kind) or (kind is int and isinstance(found, bool)):
        raise RecordingError(f"{where}{name}: expected {_KINDS.get(kind, kind.__name__)}")
    return found


_KINDS: Final[dict[type, str]] = {
    str: "a string", int: "an integer", bool: "true or false", list: "a list", dict: "an object",
}  # fmt: skip


def _optional(document: dict[str, Any], name: str) -> str | None:
    value = document.get(name)
    if value is not None and not isinstance(value, str):
        raise RecordingError(f"{name}: expected a string or null")
    return value


def _time(value: Any, name: str, optional: bool) -> float | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise RecordingError(f"{name}: expected an ISO 8601 time" + (" or null" if optional else ""))
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise RecordingError(f"{name}: expected an ISO 8601 time, found {value!r}") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _request(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RecordingError("request: expected an object")
    _known(value, _REQUEST, "request.")
    for name in ("method", "path"):
        _field(value, name, str, "request.")
    query = _field(value, "query", list, "request.")
    if not all(isinstance(p, list) and len(p) == 2 and all(isinstance(s, str) for s in p) for p in query):
        raise RecordingError("request.query: expected a list of [name, value] pairs")
    headers = _field(value, "headers", dict, "request.")
    if not all(isinstance(v, str) for v in headers.values()):
        raise RecordingError("request.headers: expected an object of strings")
    if "body" not in value:
        raise RecordingError("request.body: missing")
    return value


def _headers(value: Any) -> list[tuple[bytes, bytes]]:
    if not isinstance(value, list) or not all(
        isinstance(pair, list) and len(pair) == 2 and all(isinstance(s, str) for s in pair) for pair in value
    ):
        raise RecordingError("response.headers: expected a list of [name, value] pairs")
    out: list[tuple[bytes, bytes]] = []
    for name, header in value:
        if name.lower() not in ALLOWED_HEADERS:
            raise RecordingError(f"response.headers: {name!r} is not on the allowlist")
        try:
            out.append((name.lower().encode("latin-1"), header.encode("latin-1")))
        except UnicodeEncodeError:
            raise RecordingError(f"response.headers: {name!r} is not latin-1") from None
    return out


def _chunk_bytes(value: Any, where: str) -> tuple[bytes, float | None]:
    if not isinstance(value, dict):
        raise RecordingError(f"{where}: expected an object")
    _known(value, _CHUNK, f"{where}.")
    offset = value.get("offset_ms")
    if offset is not None and (isinstance(offset, bool) or not isinstance(offset, int | float) or offset < 0):
        raise RecordingError(f"{where}.offset_ms: expected a number of milliseconds or null")
    seconds = None if offset is None else offset / 1000
    if ("text" in value) == ("base64" in value):
        raise RecordingError(f"{where}: expected either text or base64")
    if "text" in value:
        return _field(value, "text", str, f"{where}.").encode("utf-8"), seconds
    encoded = _field(value, "base64", str, f"{where}.")
    try:
        return base64.b64decode(encoded, validate=True), seconds
    except (binascii.Error, ValueError):
        raise RecordingError(f"{where}.base64: not valid base64") from None
