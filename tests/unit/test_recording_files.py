"""Recording files: the document, its path, atomic writes, the directory check and the file cache store."""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from rubberduck.cache.entry import CachedResponse
from rubberduck.cache.memory import MemoryLRU
from rubberduck.cache.protocol import CacheStore, EntryFilter
from rubberduck.cache.store import LayeredCache
from rubberduck.cli import main
from rubberduck.providers import build_registry
from rubberduck.providers.base import RequestView
from rubberduck.proxy.exchange import Exchange
from rubberduck.proxy.reading import RequestReader
from rubberduck.proxy.recording import canonical_request
from rubberduck.recordings.check import check_directory
from rubberduck.recordings.files import (
    FORMAT,
    RecordingError,
    document_to_entry,
    dump_document,
    entry_to_document,
    key_problem,
    path_for,
    recording_files,
    write_atomic,
)
from rubberduck.recordings.filestore import FileCacheStore
from tests.fakes.eventstream import event_frame

ADAPTERS = build_registry()
JSON = [(b"content-type", b"application/json")]
SSE = [(b"content-type", b"text/event-stream")]


def recorded(
    provider: str,
    path: str,
    body: Any,
    *,
    query: str = "",
    headers: dict[str, str] | None = None,
    namespace: str = "",
    ignore: tuple[str, ...] = (),
    response_headers: list[tuple[bytes, bytes]] = JSON,
    chunks: tuple[bytes, ...] = (b'{"ok": true}',),
    stream: bool = False,
    occurrence: int = 1,
    offsets: tuple[float, ...] | None = None,
) -> CachedResponse:
    """An entry as the proxy records it: key from RequestReader, request from canonical_request."""
    adapter = ADAPTERS[provider]
    raw = orjson.dumps(body)
    sent = {"content-type": "application/json", **(headers or {})}
    reading = RequestReader(adapter, ignore).read("POST", path, query, sent, raw, namespace)
    assert reading.cache_key is not None
    request = RequestView("POST", path, query, sent, raw, reading.parsed)
    exchange = Exchange(1, request, [], None, reading.route_copy(), namespace=namespace)
    return CachedResponse(
        200,
        response_headers,
        chunks,
        stream,
        key=reading.cache_key,
        namespace=namespace,
        occurrence=occurrence,
        operation=reading.route.operation,
        model=reading.route.model,
        request=canonical_request(exchange, adapter),
        ignored=ignore,
        offsets=offsets,
        created_at=1_700_000_000.25,
    )


def chat(content: str = "What is 2+2?", **kwargs: Any) -> CachedResponse:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}]}
    return recorded("openai", "/v1/chat/completions", body, **kwargs)


def round_trip(entry: CachedResponse, provider: str = "openai") -> CachedResponse:
    data = dump_document(entry_to_document(entry, provider))
    return document_to_entry(orjson.loads(data))


def same(a: CachedResponse, b: CachedResponse) -> None:
    fields = ("status", "chunks", "stream", "key", "namespace", "occurrence", "operation", "model", "request")
    assert {f: getattr(a, f) for f in fields} == {f: getattr(b, f) for f in fields}
    assert (a.ignored, a.offsets, a.expires_at, a.created_at) == (
        b.ignored,
        b.offsets,
        b.expires_at,
        b.created_at,
    )


# ---- the document ----------------------------------------------------------------------------------------


def test_plain_json_answer_is_text_and_round_trips_exactly() -> None:
    entry = chat(offsets=(0.0123,))
    document = entry_to_document(entry, "openai")
    assert document["format"] == FORMAT and document["provider"] == "openai"
    assert document["response"] == {
        "status": 200,
        "headers": [["content-type", "application/json"]],
        "stream": False,
        "body": {"offset_ms": 12.3, "text": '{"ok": true}'},
    }
    assert document["created_at"] == "2023-11-14T22:13:20.250000+00:00"
    assert document["request"]["body"]["messages"][0]["content"] == "What is 2+2?"
    back = round_trip(entry)
    same(back, entry)
    assert back.hit_headers == entry.hit_headers


def test_sse_stream_keeps_every_event_boundary_and_offset() -> None:
    events = (b'data: {"a": 1}\n\n', b'data: {"b": "\xc3\xa9"}\r\n\r\n', b"data: [DONE]\n\n")
    entry = chat(stream=True, chunks=events, offsets=(0.1, 0.2005, 0.3), response_headers=SSE)
    document = entry_to_document(entry, "openai")
    assert [e["text"] for e in document["response"]["events"]] == [e.decode() for e in events]
    assert [e["offset_ms"] for e in document["response"]["events"]] == [100.0, 200.5, 300.0]
    same(round_trip(entry), entry)


def test_a_chunk_split_inside_a_character_is_kept_as_base64() -> None:
    events = (b"data: \xc3", b"\xa9\n\n")
    entry = chat(stream=True, chunks=events, response_headers=SSE)
    document = entry_to_document(entry, "openai")
    assert [(e.get("text"), e.get("decoded_text")) for e in document["response"]["events"]] == [
        (None, "data: "),  # for reading only: the character is shown whole in the second chunk
        (None, "é\n\n"),
    ]
    same(round_trip(entry), entry)


def test_bedrock_event_stream_is_base64_with_its_frames_decoded() -> None:
    frames = [
        event_frame("messageStart", b'{"role": "assistant"}'),
        event_frame("contentBlockDelta", json.dumps({"delta": {"text": "answer 1"}}).encode()),
    ]
    chunks = (frames[0] + frames[1][:10], frames[1][10:])  # a frame split across two chunks
    entry = recorded(
        "bedrock",
        "/model/anthropic.claude-3-haiku/converse-stream",
        {"messages": [{"role": "user", "content": [{"text": "hi"}]}]},
        headers={"accept": "application/json"},
        response_headers=[(b"content-type", b"application/vnd.amazon.eventstream")],
        chunks=chunks,
        stream=True,
    )
    document = entry_to_document(entry, "bedrock")
    events = document["response"]["events"]
    assert [base64.b64decode(e["base64"]) for e in events] == list(chunks)
    assert [[f["event_type"] for f in e["decoded"]] for e in events] == [
        ["messageStart"],
        ["contentBlockDelta"],
    ]
    assert events[1]["decoded"][0]["payload"] == {"delta": {"text": "answer 1"}}
    assert document["request"]["headers"] == {"accept": "application/json"}
    same(round_trip(entry, "bedrock"), entry)


def test_gzip_bodies_and_streams_are_base64_with_decoded_text_beside() -> None:
    body = gzip.compress(b'{"candidates": []}', mtime=0)
    headers = [(b"content-type", b"application/json"), (b"content-encoding", b"gzip")]
    plain = chat(chunks=(body,), response_headers=headers)
    document = entry_to_document(plain, "openai")
    assert document["response"]["body"]["decoded_text"] == '{"candidates": []}'
    same(round_trip(plain), plain)
    array = gzip.compress(b'[{"a": 1}\r\n,{"b": 2}]', mtime=0)
    chunks = (array[:7], array[7:20], array[20:])
    streamed = chat(stream=True, chunks=chunks, response_headers=headers)
    events = entry_to_document(streamed, "openai")["response"]["events"]
    assert "".join(e.get("decoded_text", "") for e in events) == '[{"a": 1}\r\n,{"b": 2}]'
    same(round_trip(streamed), streamed)


def test_only_allowlisted_response_headers_enter_a_file() -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"set-cookie", b"session=SECRET-COOKIE"),
        (b"x-request-id", b"req_SECRET"),
        (b"request-id", b"req_SECRET2"),
        (b"openai-organization", b"org-SECRET"),
        (b"openai-project", b"proj_SECRET"),
        (b"x-amzn-requestid", b"SECRET-AWS"),
        (b"anthropic-ratelimit-requests-remaining", b"99"),
        (b"x-amzn-bedrock-performanceconfig-latency", b"standard"),
    ]
    data = dump_document(entry_to_document(chat(response_headers=headers), "openai"))
    assert b"SECRET" not in data and b"ratelimit" not in data
    assert json.loads(data)["response"]["headers"] == [
        ["content-type", "application/json"],
        ["x-amzn-bedrock-performanceconfig-latency", "standard"],
    ]


def test_credentials_in_the_request_never_reach_the_document() -> None:
    entry = recorded(
        "gemini",
        "/v1beta/models/gemini-2.0-flash:generateContent",
        {"contents": [{"parts": [{"text": "hi"}]}]},
        query="key=AIza-SECRET&alt=sse",
        headers={"x-goog-api-key": "AIza-SECRET2", "authorization": "Bearer SECRET3"},
    )
    data = dump_document(entry_to_document(entry, "gemini"))
    assert b"SECRET" not in data
    assert json.loads(data)["request"]["query"] == [["alt", "sse"]]
    assert key_problem(document_to_entry(json.loads(data))) is None  # the key never included the secret


def test_the_same_entry_always_gives_the_same_bytes_sorted_and_pretty() -> None:
    entry = chat(stream=True, chunks=(b"data: 1\n\n",), offsets=(0.5,), response_headers=SSE)
    first = dump_document(entry_to_document(entry, "openai"))
    assert first == dump_document(entry_to_document(entry, "openai"))
    assert first == dump_document(entry_to_document(round_trip(entry), "openai"))  # export→import→export
    text = first.decode()
    assert text.endswith("}\n") and '\n  "created_at": ' in text
    keys = list(json.loads(text))
    assert keys == sorted(keys)


def test_path_layout() -> None:
    root = Path("/r")
    entry = chat()
    assert path_for(root, entry) == Path(f"/r/_default/chat-{entry.key[:12]}.json")
    third = chat(namespace="tests.test_a:case-1", occurrence=3)
    assert path_for(root, third) == Path(f"/r/tests.test_a:case-1/chat-{third.key[:12]}-3.json")
    unknown = CachedResponse(200, [], (b"",), False, key="a" * 64, operation=None)
    assert path_for(root, unknown).name == "request-aaaaaaaaaaaa.json"


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda d: d.update(format="other/1"), "format: expected 'rubberduck-recording/1'"),
        (lambda d: d.pop("key"), "key: missing"),
        (lambda d: d.update(occurrence="1"), "occurrence: expected an integer"),
        (lambda d: d.update(occurrence=0), "occurrence: expected 1 or more"),
        (lambda d: d.update(namespace="bad name"), "namespace: a name is"),
        (lambda d: d.update(ignored=["a..b"]), "ignored: invalid ignore path"),
        (lambda d: d.update(created_at="yesterday"), "created_at: expected an ISO 8601 time"),
        (lambda d: d.update(colour="blue"), "colour: unknown field"),
        (lambda d: d["response"].update(status=999), "response.status: expected an HTTP status"),
        (lambda d: d["response"].update(stream="no"), "response.stream: expected true or false"),
        (
            lambda d: d["response"]["headers"].append(["x-request-id", "r"]),
            "'x-request-id' is not on the allowlist",
        ),
        (lambda d: d["response"]["body"].update(base64="x"), "response.body: expected either text or base64"),
        (lambda d: d["response"]["body"].update(offset_ms=-1), "response.body.offset_ms: expected a number"),
        (lambda d: d["request"].pop("method"), "request.method: missing"),
        (lambda d: d.update(request=None), "request: expected an object"),
    ],
)
def test_a_bad_field_is_named_with_its_reason(edit: Any, reason: str) -> None:
    document = entry_to_document(chat(), "openai")
    edit(document)
    with pytest.raises(RecordingError, match=reason.replace("(", r"\(").replace(".", r"\.")):
        document_to_entry(document)


def test_key_is_recomputed_from_request_namespace_and_ignore_paths() -> None:
    entry = recorded(
        "anthropic",
        "/v1/messages",
        {"model": "claude", "messages": [{"role": "user", "content": "hi"}], "metadata": {"user_id": "u1"}},
        query="beta=true",
        headers={"anthropic-version": "2023-06-01", "x-api-key": "sk-ant-SECRET"},
        namespace="tests.test_x",
        ignore=("metadata.user_id",),
    )
    assert key_problem(entry) is None
    document = entry_to_document(entry, "anthropic")
    assert "x-api-key" not in document["request"]["headers"]
    document["request"]["body"]["metadata"]["user_id"] = "u2"  # ignored: the key still matches
    assert key_problem(document_to_entry(document)) is None
    for edit in (
        lambda d: d["request"]["body"]["messages"][0].update(content="bye"),
        lambda d: d.update(namespace="tests.test_y"),
        lambda d: d.update(ignored=[]),
        lambda d: d["request"]["headers"].update({"anthropic-version": "2024-01-01"}),
        lambda d: d["request"].update(query=[]),
    ):
        changed = json.loads(json.dumps(document))
        edit(changed)
        assert "does not match its request" in (key_problem(document_to_entry(changed)) or "")


# ---- atomic writes ---------------------------------------------------------------------------------------


def test_a_failed_write_leaves_the_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "ns" / "x.json"
    assert write_atomic(target, b"old\n") and not write_atomic(target, b"old\n")  # unchanged: not rewritten

    def crash(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("os.fsync", crash)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, b"new content, half written\n")
    assert target.read_bytes() == b"old\n" and sorted(p.name for p in target.parent.iterdir()) == ["x.json"]


def test_a_process_killed_mid_write_leaves_no_partial_json(tmp_path: Path) -> None:
    """The process dies after writing half the bytes: a hidden temp file may stay, never a partial .json."""
    entry = chat()
    data = dump_document(entry_to_document(entry, "openai"))
    target = path_for(tmp_path, entry)
    script = f"""
import os
from pathlib import Path
from rubberduck.recordings import files

class Dying:
    def __init__(self, fd, mode):
        self.fd = fd
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        return False
    def write(self, data):
        os.write(self.fd, data[: len(data) // 2])
        os._exit(9)

os.fdopen = Dying
files.write_atomic(Path({str(target)!r}), {data!r})
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert result.returncode == 9, result.stderr
    left = [p.name for p in target.parent.iterdir()]
    assert len(left) == 1 and left[0].startswith(".") and left[0].endswith(".tmp")
    assert 0 < (target.parent / left[0]).stat().st_size < len(data)
    assert not target.exists() and recording_files(tmp_path) == []
    store = FileCacheStore(tmp_path, "openai")  # the leftover is ignored, by the store and by the check
    assert check_directory(tmp_path).ok and store.path_of(entry.key) is None


# ---- the directory check ---------------------------------------------------------------------------------


def write_entry(root: Path, entry: CachedResponse, provider: str = "openai") -> Path:
    path = path_for(root, entry)
    write_atomic(path, dump_document(entry_to_document(entry, provider)))
    return path


def test_check_counts_per_namespace_and_names_each_bad_file(tmp_path: Path) -> None:
    write_entry(tmp_path, chat())
    write_entry(tmp_path, chat("other"))
    write_entry(tmp_path, chat(namespace="t1"))
    write_entry(tmp_path, chat(namespace="t1", occurrence=2))
    report = check_directory(tmp_path)
    assert report.ok and dict(report.counts) == {("openai", ""): 2, ("openai", "t1"): 2}
    edited = write_entry(tmp_path, chat("edited"))
    document = json.loads(edited.read_text())
    document["request"]["body"]["messages"][0]["content"] = "hand-edited"
    edited.write_text(json.dumps(document))
    broken = tmp_path / "t1" / "broken.json"
    broken.write_text("{not json")
    status = write_entry(tmp_path, chat("status"))
    status.write_text(status.read_text().replace('"status": 200', '"status": "200"'))
    moved = write_entry(tmp_path, chat("moved", namespace="t2"))
    moved.rename(tmp_path / "t1" / moved.name)
    report = check_directory(tmp_path)
    reasons = {path.name: reason for path, reason in report.problems}
    assert reasons[edited.name].startswith("key: ") and "does not match its request" in reasons[edited.name]
    assert reasons["broken.json"].startswith("invalid JSON")
    assert reasons[status.name] == "response.status: expected an integer"
    assert reasons[moved.name] == "namespace: 't2' belongs in t2/, not in t1/"
    assert dict(report.counts) == {("openai", ""): 2, ("openai", "t1"): 2}


def test_check_command_prints_counts_and_exits_1_on_a_bad_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_entry(tmp_path, chat())
    write_entry(tmp_path, chat(namespace="t1"), provider="openai")
    assert main(["recordings", "check", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert (
        "openai (default): 1 recording\n" in out
        and "openai t1: 1 recording\n" in out
        and "2 good, 0 bad" in out
    )
    bad = write_entry(tmp_path, chat("x"))
    bad.write_text(bad.read_text().replace('"occurrence": 1', '"occurrence": -1'))
    assert main(["recordings", "check", "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}: occurrence: expected 1 or more" in err
    assert main(["recordings", "check", "--dir", str(tmp_path / "nope")]) == 1
    assert "is not a directory" in capsys.readouterr().err


# ---- the file cache store --------------------------------------------------------------------------------


async def test_file_store_loads_answers_writes_and_removes(tmp_path: Path) -> None:
    first, second = chat("one"), chat("two", namespace="t1")
    write_entry(tmp_path, first)
    write_entry(tmp_path, second)
    other = write_entry(
        tmp_path, recorded("anthropic", "/v1/messages", {"model": "c", "messages": []}), "anthropic"
    )
    store = FileCacheStore(tmp_path, "openai")
    assert await store.count(1) == 2  # the anthropic file is another proxy's
    found = await store.get(1, first.key)
    assert found is not None and found.chunks == first.chunks and await store.get(1, first.key, 2) is None
    third = chat("three", namespace="t1")
    sequel = CachedResponse(200, JSON, (b'{"n": 2}',), False, key=third.key, namespace="t1", occurrence=2,
                            operation=third.operation, request=third.request, created_at=1_800_000_000.0)  # fmt: skip
    await store.put(1, third)
    await store.put(1, sequel)
    assert path_for(tmp_path, sequel).exists() and path_for(tmp_path, sequel).name.endswith("-2.json")
    assert await store.recorded_occurrences(1, third.key) == 2
    assert [e.occurrence for e in await store.candidates(1, "t1", "chat", 10)] == [2, 1, 1]
    reloaded = FileCacheStore(tmp_path, "openai")
    assert await reloaded.count(1) == 4
    again = await reloaded.get(1, sequel.key, 2)
    assert again is not None and again.chunks == sequel.chunks
    assert await store.clear(1, "t1") == 3
    assert not path_for(tmp_path, second).exists() and path_for(tmp_path, first).exists() and other.exists()
    assert await store.delete(1, first.key) == 1 and not path_for(tmp_path, first).exists()
    assert await store.count(1) == 0 and other.exists() and check_directory(tmp_path).ok


async def test_file_store_counts_hits_and_reports_used_created_unused(tmp_path: Path) -> None:
    used, unused = chat("used"), chat("unused")
    write_entry(tmp_path, used)
    write_entry(tmp_path, unused)
    store = FileCacheStore(tmp_path, "openai")
    cache = LayeredCache(MemoryLRU(1 << 20), store)
    hit = await cache.get(1, used.key)
    assert hit is not None
    cache.touch(1, hit)
    cache.touch(1, hit)
    new = chat("new")
    await cache.persist(1, new, cache.generation(1))
    await cache.flush_hits()
    assert store.used_keys() == {(used.key, 1)} and store.created_keys() == {(new.key, 1)}
    stats = store.stats()
    assert stats.loaded == 2 and [e.key for e in stats.unused] == [unused.key]
    page = await cache.page(1, EntryFilter(), 10, None)
    assert {(i.key, i.hits) for i in page} == {(used.key, 2), (unused.key, 0), (new.key, 0)}
    assert [i.key for i in await cache.page(1, EntryFilter(), 1, None)] == [new.key]  # newest first
    assert store.path_of(new.key) == path_for(tmp_path, new)
    await cache.clear(1)
    assert recording_files(tmp_path) == []


def test_file_store_refuses_a_bad_file_naming_it(tmp_path: Path) -> None:
    path = write_entry(tmp_path, chat())
    path.write_text(path.read_text().replace('"stream": false', '"stream": 0'))
    with pytest.raises(RecordingError, match=str(path).replace(".", r"\.") + ": response.stream"):
        FileCacheStore(tmp_path, "openai")
    with pytest.raises(RecordingError, match="not a directory"):
        FileCacheStore(path, "openai")


async def test_file_store_on_a_missing_directory_starts_empty_and_creates_it(tmp_path: Path) -> None:
    root = tmp_path / "tests" / "recordings"
    store = FileCacheStore(root, "openai")
    assert await store.count(1) == 0 and not root.exists()
    entry = chat(namespace="t")
    await store.put(1, entry)
    assert path_for(root, entry).is_file() and await FileCacheStore(root, "openai").count(1) == 1


def test_file_store_is_a_cache_store_and_imports_no_database() -> None:
    """The headless proxy must start fast: the store (and the CLI's flags) never import SQLAlchemy."""
    protocol = {name for name in vars(CacheStore) if not name.startswith("_")}
    assert protocol and all(callable(getattr(FileCacheStore, name, None)) for name in protocol)
    script = (
        "import sys, rubberduck.recordings.filestore, rubberduck.recordings.commands\n"
        "print(sorted(m for m in ('sqlalchemy', 'fastapi', 'uvicorn') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr
