"""The proxy ports' own HTTP/1.1 server (proxy/http11.py, proxy/server.py), exercised on real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import random
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import pytest

from rubberduck.proxy import http11
from rubberduck.proxy.server import ProxyServer
from rubberduck.types import Message, RawHeaders, Receive, Scope, Send
from tests.support import free_port

Handler = Callable[[Scope, Receive, Send], Awaitable[None]]

TIMEOUT = 5.0  # generous bound on any single wait; the tests never rely on it elapsing
HTTP_DATE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT$")


# ---- the app side ----


def error_reply(status: int, message: str) -> tuple[int, RawHeaders, bytes]:
    body = json.dumps({"error": {"status": status, "message": message}}).encode()
    return status, [(b"content-type", b"application/json"), (b"x-error-format", b"test")], body


class App:
    """An ASGI app around one handler, with the `error_reply` a ProxyServer needs; it records its calls."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.calls: list[str] = []  # request paths, in the order the app was called
        self.errors: list[tuple[int, str]] = []  # error_reply arguments, in order
        self.refused: list[tuple[str, str] | None] = []  # the refused request's method and path, if read
        self.active = 0
        self.max_active = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls.append(scope["path"])
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            await self.handler(scope, receive, send)
        finally:
            self.active -= 1

    def error_reply(
        self, status: int, message: str, request: tuple[str, str, str | None] | None = None
    ) -> tuple[int, RawHeaders, bytes]:
        self.errors.append((status, message))
        self.refused.append(None if request is None else request[:2])
        return error_reply(status, message)


async def read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None if the client went away first."""
    parts: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        parts.append(message["body"])
        if not message["more_body"]:
            return b"".join(parts)


async def respond(send: Send, status: int, body: bytes, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def echo_payload(method: str, path: str, query: str, body: bytes, client_port: int) -> dict[str, Any]:
    return {
        "method": method,
        "path": path,
        "query": query,
        "length": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
        "client_port": client_port,
    }


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Reads the whole body, answers JSON describing the request; paths under /slow yield first."""
    body = await read_body(receive)
    if body is None:
        return
    if scope["path"].startswith("/slow"):
        await asyncio.sleep(0.05)  # room for a concurrent dispatcher to start the next request early
    payload = echo_payload(
        scope["method"], scope["path"], scope["query_string"].decode(), body, scope["client"][1]
    )
    await respond(send, 200, json.dumps(payload).encode(), [(b"content-type", b"application/json")])


# ---- the server and the client side ----


@dataclass
class Served:
    server: ProxyServer
    app: App
    port: int


@contextlib.asynccontextmanager
async def serve(
    handler: Handler, *, keep_alive_seconds: float | None = None, graceful_seconds: float = TIMEOUT
) -> AsyncIterator[Served]:
    app = App(handler)
    port = free_port()
    server = ProxyServer(app, "127.0.0.1", port, graceful_seconds)  # type: ignore[arg-type]
    if keep_alive_seconds is not None:
        server.state.keep_alive_seconds = keep_alive_seconds  # read by the idle sweeper when it starts
    await server.start()
    try:
        yield Served(server, app, port)
    finally:
        await server.stop(force=True)


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]  # names lower-cased, in wire order
    head: bytes
    body: bytes = b""
    chunks: list[bytes] | None = None  # the chunks as framed, for a chunked response

    def values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]

    def header(self, name: str) -> str:
        values = self.values(name)
        assert len(values) == 1, f"{name!r} should appear exactly once in {self.head!r}"
        return values[0]

    def json(self) -> Any:
        return json.loads(self.body)


class Conn:
    """One raw client connection: bytes in, responses parsed strictly out."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.local_port: int = writer.get_extra_info("sockname")[1]

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await asyncio.wait_for(self.writer.drain(), TIMEOUT)

    async def read_head(self) -> Response:
        raw = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        status_line, *lines = raw[:-4].decode("latin-1").split("\r\n")
        version, status, _reason = status_line.split(" ", 2)
        assert version == "HTTP/1.1", raw
        headers = []
        for line in lines:
            name, colon, value = line.partition(":")
            assert colon and name == name.strip(), raw
            headers.append((name.lower(), value.strip()))
        return Response(int(status), headers, raw)

    async def read_chunks(self) -> list[bytes]:
        chunks: list[bytes] = []
        while True:
            size_line = await asyncio.wait_for(self.reader.readuntil(b"\r\n"), TIMEOUT)
            size = int(size_line.split(b";")[0], 16)
            data = await self.read_exactly(size + 2)
            assert data.endswith(b"\r\n"), data[-10:]
            if size == 0:
                return chunks
            chunks.append(data[:-2])

    async def read_exactly(self, size: int) -> bytes:
        return await asyncio.wait_for(self.reader.readexactly(size), TIMEOUT)

    async def response(self, *, head_request: bool = False) -> Response:
        response = await self.read_head()
        if head_request or response.status in (204, 304) or response.status < 200:
            return response
        if lengths := response.values("content-length"):
            response.body = await self.read_exactly(int(lengths[0]))
        elif response.values("transfer-encoding") == ["chunked"]:
            response.chunks = await self.read_chunks()
            response.body = b"".join(response.chunks)
        else:
            response.body = await self.rest()
        return response

    async def rest(self) -> bytes:
        """Everything until the server closes the connection (a reset counts as the close)."""
        data = b""
        with contextlib.suppress(ConnectionResetError):
            while block := await asyncio.wait_for(self.reader.read(65536), TIMEOUT):
                data += block
        return data

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


@contextlib.asynccontextmanager
async def connect(port: int) -> AsyncIterator[Conn]:
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)
    conn = Conn(reader, writer)
    try:
        yield conn
    finally:
        await conn.close()


def request(method: str, target: str, body: bytes = b"", headers: Sequence[tuple[str, str]] = ()) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: test", *(f"{name}: {value}" for name, value in headers)]
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)


async def wait_for_event(event: asyncio.Event) -> None:
    await asyncio.wait_for(event.wait(), TIMEOUT)


def payload_bytes(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


# ---- keep-alive and pipelining ----


async def test_keep_alive_answers_fifty_sequential_requests_in_order() -> None:
    """Fifty requests on one connection are all answered, in order, each body exactly its Content-Length."""
    async with serve(echo) as served, connect(served.port) as conn:
        for i in range(50):
            body = payload_bytes(i * 37, seed=i)
            await conn.send(request("POST", f"/echo/{i}?i={i}", body))
            response = await conn.response()
            assert response.status == 200
            assert int(response.header("content-length")) == len(response.body)
            assert response.json() == echo_payload("POST", f"/echo/{i}", f"i={i}", body, conn.local_port)
        assert served.app.calls == [f"/echo/{i}" for i in range(50)]
        assert len(served.server.state.connections) == 1


async def test_pipelined_requests_in_one_write_are_answered_in_order() -> None:
    """Three requests in one write are run one at a time and answered in order, then the connection is clean."""
    body = payload_bytes(1000)
    async with serve(echo) as served, connect(served.port) as conn:
        await conn.send(
            request("GET", "/slow/one") + request("POST", "/two", body) + request("GET", "/three?q=3")
        )
        responses = [await conn.response() for _ in range(3)]
        port = conn.local_port
        assert [r.json() for r in responses] == [
            echo_payload("GET", "/slow/one", "", b"", port),
            echo_payload("POST", "/two", "", body, port),
            echo_payload("GET", "/three", "q=3", b"", port),
        ]
        assert served.app.calls == ["/slow/one", "/two", "/three"]
        assert served.app.max_active == 1
        await conn.send(request("GET", "/last", headers=[("Connection", "close")]))
        last = await conn.response()
        assert last.json()["path"] == "/last" and last.header("connection") == "close"
        assert await conn.rest() == b""


# ---- malformed requests ----


@pytest.mark.parametrize(
    "garbage",
    [b"GARBAGE\r\n\r\n", b"GET /a b c HTTP/1.1\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n"],
    ids=["no-request-line", "bad-request-line", "bad-version"],
)
@pytest.mark.parametrize("after_a_request", [False, True], ids=["fresh", "kept-alive"])
async def test_malformed_request_gets_a_400_from_error_reply_and_the_connection_closes(
    garbage: bytes, after_a_request: bool
) -> None:
    """Bytes that are not HTTP/1.1 get a 400 whose body is error_reply's, then the connection closes."""
    async with serve(echo) as served, connect(served.port) as conn:
        if after_a_request:
            await conn.send(request("GET", "/fine"))
            assert (await conn.response()).json()["path"] == "/fine"
        await conn.send(garbage)
        response = await conn.response()
        assert response.status == 400
        assert [status for status, _ in served.app.errors] == [400]
        assert response.body == error_reply(*served.app.errors[0])[2]
        assert response.header("content-type") == "application/json"
        assert response.header("x-error-format") == "test"
        assert response.header("content-length") == str(len(response.body))
        assert response.header("connection") == "close"
        assert await conn.rest() == b""
        assert served.app.calls == (["/fine"] if after_a_request else [])


# ---- request bodies ----


async def test_expect_100_continue_is_answered_before_the_body_is_sent() -> None:
    """With `Expect: 100-continue` the client gets `100 Continue` on headers alone, then the full response."""
    body = b"hello world"
    async with serve(echo) as served, connect(served.port) as conn:
        await conn.send(
            b"POST /upload HTTP/1.1\r\nHost: test\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n"
        )
        interim = await asyncio.wait_for(conn.reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        await conn.send(body)
        response = await conn.response()
        assert response.status == 200
        assert response.json() == echo_payload("POST", "/upload", "", body, conn.local_port)


async def test_expect_100_continue_is_not_sent_when_the_app_answers_without_reading() -> None:
    """An app that answers without reading the body sends its answer, never a `100 Continue`."""

    async def refuse(scope: Scope, receive: Receive, send: Send) -> None:
        await respond(send, 413, b"too large")

    async with serve(refuse) as served, connect(served.port) as conn:
        await conn.send(
            b"POST /upload HTTP/1.1\r\nHost: test\r\nContent-Length: 99999999\r\n"
            b"Expect: 100-continue\r\nConnection: close\r\n\r\n"
        )
        response = await conn.response()
        assert (response.status, response.body) == (413, b"too large")
        assert await conn.rest() == b""


async def test_chunked_request_body_reaches_the_app_intact() -> None:
    """A `Transfer-Encoding: chunked` body sent in several writes arrives whole (length and hash)."""
    chunks = [b"a" * 10, bytes(range(256)), payload_bytes(70_000), b"end"]
    body = b"".join(chunks)
    async with serve(echo) as served, connect(served.port) as conn:
        await conn.send(b"POST /chunked HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n")
        for index, chunk in enumerate(chunks):
            extension = b";note=x" if index == 1 else b""
            await conn.send(b"%x%b\r\n%b\r\n" % (len(chunk), extension, chunk))
        await conn.send(b"0\r\n\r\n")
        response = await conn.response()
        assert response.json() == echo_payload("POST", "/chunked", "", body, conn.local_port)


async def test_five_megabyte_body_arrives_intact_with_reading_paused_while_the_app_waits() -> None:
    """A 5 MB Content-Length body: the server stops reading at its high-water mark, then delivers it all."""
    gate = asyncio.Event()

    async def gated_echo(scope: Scope, receive: Receive, send: Send) -> None:
        await gate.wait()
        await echo(scope, receive, send)

    body = payload_bytes(5 * 1024 * 1024)
    async with serve(gated_echo) as served, connect(served.port) as conn:
        sending = asyncio.create_task(conn.send(request("POST", "/big", body)))
        state = served.server.state
        await wait_until(lambda: any(c.reading_paused for c in state.connections))
        [connection] = state.connections
        assert connection.parsing is not None
        # One socket read (at most 256 KiB in asyncio) past the high-water mark, no more.
        assert http11.REQUEST_BODY_HIGH_WATER < connection.parsing.buffered
        assert connection.parsing.buffered <= http11.REQUEST_BODY_HIGH_WATER + 256 * 1024
        gate.set()
        response = await conn.response()
        await sending
        assert response.json() == echo_payload("POST", "/big", "", body, conn.local_port)


# ---- responses ----


async def test_response_without_content_length_streams_chunked_before_the_app_finishes() -> None:
    """No Content-Length: the head, then the first chunk, reach the client while the app holds the rest."""
    head_read, release = asyncio.Event(), asyncio.Event()

    async def stream(scope: Scope, receive: Receive, send: Send) -> None:
        await read_body(receive)
        start = {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        await send(start)
        await head_read.wait()  # the head goes out before any body does
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": True})  # not an end
        await release.wait()
        await send({"type": "http.response.body", "body": b"second", "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async with serve(stream) as served, connect(served.port) as conn:
        await conn.send(request("GET", "/stream"))
        head = await conn.read_head()
        head_read.set()
        assert head.status == 200
        assert head.header("transfer-encoding") == "chunked"
        assert head.values("content-length") == []
        assert await conn.read_exactly(len(b"5\r\nfirst\r\n")) == b"5\r\nfirst\r\n"
        assert not release.is_set()
        release.set()
        rest = b"6\r\nsecond\r\n0\r\n\r\n"
        assert await conn.read_exactly(len(rest)) == rest
        await conn.send(request("GET", "/again"))  # the connection is still usable
        again = await conn.response()
        assert again.chunks == [b"first", b"second"]


async def test_head_response_has_headers_but_no_body_and_the_connection_stays_usable() -> None:
    """HEAD gets the GET's headers (with content-length) and no body bytes; the next request parses clean."""

    async def resource(scope: Scope, receive: Receive, send: Send) -> None:
        await read_body(receive)
        if scope["path"] == "/fixed":
            await respond(send, 200, b"hello world", [(b"content-type", b"text/plain")])
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"streamed", "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async with serve(resource) as served, connect(served.port) as conn:
        await conn.send(request("HEAD", "/fixed"))
        fixed = await conn.response(head_request=True)
        assert fixed.status == 200
        assert fixed.header("content-length") == "11"
        assert fixed.values("transfer-encoding") == []
        await conn.send(request("HEAD", "/streamed"))
        streamed = await conn.response(head_request=True)
        assert streamed.status == 200
        assert streamed.values("transfer-encoding") == [] and streamed.values("content-length") == []
        await conn.send(request("GET", "/fixed", headers=[("Connection", "close")]))
        got = await conn.response()
        assert (got.status, got.body) == (200, b"hello world")
        assert await conn.rest() == b""


async def test_date_header_appears_once_and_an_apps_own_date_and_length_are_not_doubled() -> None:
    """Every response has one `date`; an app's own Date is kept, not doubled; its Content-Length appears once."""

    async def dated(scope: Scope, receive: Receive, send: Send) -> None:
        await read_body(receive)
        headers: RawHeaders = [(b"Content-Type", b"text/plain"), (b"Content-Length", b"5")]
        if scope["path"] == "/dated":
            headers.append((b"Date", b"Mon, 01 Jan 2001 00:00:00 GMT"))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"hello"})

    async with serve(dated) as served, connect(served.port) as conn:
        await conn.send(request("GET", "/plain"))
        plain = await conn.response()
        date = plain.header("date")
        assert HTTP_DATE.match(date), date
        assert abs(parsedate_to_datetime(date).timestamp() - time.time()) < 5
        assert plain.header("content-length") == "5" and plain.body == b"hello"
        await conn.send(request("GET", "/dated"))
        dated_response = await conn.response()
        assert dated_response.values("date") == ["Mon, 01 Jan 2001 00:00:00 GMT"]
        assert dated_response.values("content-length") == ["5"] and dated_response.body == b"hello"


# ---- disconnects and failing apps ----


async def test_client_closing_mid_request_body_is_reported_as_http_disconnect() -> None:
    """A client gone halfway through its body: the app's pending receive() returns `http.disconnect`."""
    messages: list[Message] = []
    got_partial = asyncio.Event()
    disconnected = asyncio.Event()

    async def watcher(scope: Scope, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] == "http.disconnect":
                disconnected.set()
                return
            if sum(len(m.get("body", b"")) for m in messages) == 10:
                got_partial.set()

    async with serve(watcher) as served:
        async with connect(served.port) as conn:
            await conn.send(b"POST /upload HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)
            await wait_for_event(got_partial)
        await wait_for_event(disconnected)
    *bodies, last = messages
    assert last == {"type": "http.disconnect"}
    assert all(m["type"] == "http.request" and m["more_body"] for m in bodies)
    assert b"".join(m["body"] for m in bodies) == b"x" * 10


async def test_client_closing_mid_stream_is_reported_and_later_sends_are_dropped() -> None:
    """A client gone during a streamed response: receive() says `http.disconnect` and send() does not raise."""
    disconnected = asyncio.Event()
    outcome: list[str] = []

    async def streamer(scope: Scope, receive: Receive, send: Send) -> None:
        await read_body(receive)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})
        message = await receive()
        outcome.append(message["type"])
        disconnected.set()
        await send({"type": "http.response.body", "body": b"data: 2\n\n", "more_body": True})
        outcome.append("send after disconnect returned")

    async with serve(streamer) as served:
        async with connect(served.port) as conn:
            await conn.send(request("GET", "/stream"))
            await conn.read_head()
            assert await conn.read_exactly(len(b"9\r\ndata: 1\n\n\r\n")) == b"9\r\ndata: 1\n\n\r\n"
        await wait_for_event(disconnected)
        await wait_until(lambda: not served.server.state.tasks)
    assert outcome == ["http.disconnect", "send after disconnect returned"]


async def test_app_raising_before_responding_gets_a_500_from_error_reply() -> None:
    """An app that raises before its response start: the client gets error_reply's 500, then the close."""

    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        await read_body(receive)
        raise RuntimeError("the app broke")

    async with serve(broken) as served, connect(served.port) as conn:
        await conn.send(request("POST", "/boom", b"payload"))
        response = await conn.response()
        assert response.status == 500
        assert [status for status, _ in served.app.errors] == [500]
        assert response.body == error_reply(*served.app.errors[0])[2]
        assert response.header("content-type") == "application/json"
        assert response.header("content-length") == str(len(response.body))
        assert response.header("connection") == "close"
        assert await conn.rest() == b""


async def test_app_returning_mid_chunked_response_closes_without_the_final_chunk() -> None:
    """A stream the app abandons ends in a close, never in `0\\r\\n\\r\\n`, so the client sees it cut."""

    async def quitter(scope: Scope, receive: Receive, send: Send) -> None:
        await read_body(receive)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first", "more_body": True})

    async with serve(quitter) as served, connect(served.port) as conn:
        await conn.send(request("GET", "/cut"))
        head = await conn.read_head()
        assert head.header("transfer-encoding") == "chunked"
        assert await conn.rest() == b"5\r\nfirst\r\n"


async def test_app_returning_without_any_response_gets_a_500() -> None:
    """An app that returns without starting a response: the client should get a 500, not a bare close."""

    async def silent(scope: Scope, receive: Receive, send: Send) -> None:
        await read_body(receive)

    async with serve(silent) as served, connect(served.port) as conn:
        await conn.send(request("GET", "/nothing"))
        response = await conn.response()
        assert response.status == 500
        assert response.json() == {
            "error": {"status": 500, "message": "Rubberduck: the request got no response."}
        }


async def test_an_upgrade_request_with_a_body_is_refused_not_served_empty() -> None:
    """The parser stops at an upgrade request's headers: with a body it is refused, never served empty."""
    async with serve(echo) as served, connect(served.port) as conn:
        upgrade = [("Connection", "Upgrade"), ("Upgrade", "h2c")]
        await conn.send(request("POST", "/up", b"hello", headers=upgrade))
        response = await conn.response()
        assert response.status == 400
        assert response.json()["error"]["status"] == 400
        assert await conn.rest() == b""
        assert served.app.errors == [(400, "Rubberduck: protocol upgrades are not supported on this port.")]


async def test_an_upgrade_request_without_a_body_is_served_as_plain_http_then_closed() -> None:
    """A bodiless GET asking for h2c gets its plain HTTP/1.1 answer; bytes after it are not HTTP/1.1."""
    async with serve(echo) as served, connect(served.port) as conn:
        upgrade = [("Connection", "Upgrade"), ("Upgrade", "h2c")]
        await conn.send(request("GET", "/up", headers=upgrade) + request("GET", "/after"))
        response = await conn.response()
        assert (response.status, response.json()["path"]) == (200, "/up")
        assert response.header("connection") == "close"
        assert await conn.rest() == b""


# ---- shutdown ----


def slow_app() -> tuple[Handler, asyncio.Event, asyncio.Event, asyncio.Event]:
    """A handler whose /slow requests wait for `release` (and note a cancellation); others echo."""
    started, release, cancelled = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def handler(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] != "/slow":
            await echo(scope, receive, send)
            return
        await read_body(receive)
        started.set()
        try:
            await release.wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        await respond(send, 200, b"finished")

    return handler, started, release, cancelled


async def test_graceful_stop_finishes_in_flight_requests_and_refuses_new_connections() -> None:
    """Graceful stop: no new connections, idle ones close now, the in-flight request still gets its 200."""
    handler, started, release, _ = slow_app()
    async with serve(handler) as served:
        server = served.server
        async with connect(served.port) as idle, connect(served.port) as busy:
            await idle.send(request("GET", "/quick"))
            assert (await idle.response()).status == 200
            await busy.send(request("GET", "/slow"))
            await wait_for_event(started)
            stopping = asyncio.create_task(server.stop())
            await wait_until(lambda: not server.running)
            with pytest.raises(ConnectionRefusedError):
                await asyncio.open_connection("127.0.0.1", served.port)
            assert await idle.rest() == b""
            assert not stopping.done()
            release.set()
            response = await busy.response()
            assert (response.status, response.body) == (200, b"finished")
            assert response.header("connection") == "close"
            assert await busy.rest() == b""
            await asyncio.wait_for(stopping, TIMEOUT)


async def test_graceful_stop_is_bounded_by_graceful_seconds() -> None:
    """A request still running when graceful_seconds run out is cut: the client sees a bare close."""
    handler, started, _, cancelled = slow_app()
    async with serve(handler, graceful_seconds=0.2) as served, connect(served.port) as conn:
        await conn.send(request("GET", "/slow"))
        await wait_for_event(started)
        began = time.monotonic()
        await asyncio.wait_for(served.server.stop(), TIMEOUT)
        assert 0.15 < time.monotonic() - began < 2.0
        assert cancelled.is_set()
        assert await conn.rest() == b""


async def test_forced_stop_drops_in_flight_requests_at_once() -> None:
    """stop(force=True) closes a busy connection and cancels its app at once, well under a second."""
    handler, started, _, cancelled = slow_app()
    async with serve(handler) as served, connect(served.port) as conn:
        await conn.send(request("GET", "/slow"))
        await wait_for_event(started)
        began = time.monotonic()
        await asyncio.wait_for(served.server.stop(force=True), TIMEOUT)
        assert time.monotonic() - began < 1.0
        assert cancelled.is_set()
        assert not served.server.running
        assert await conn.rest() == b""


async def test_graceful_stop_delivers_a_large_response_to_a_slow_reader() -> None:
    """A response finished during a graceful stop reaches a client that reads slowly, all 32 MiB of it."""
    size = 32 * 1024 * 1024
    started, release = asyncio.Event(), asyncio.Event()

    async def large(scope: Scope, receive: Receive, send: Send) -> None:
        await read_body(receive)
        started.set()
        await release.wait()
        await respond(send, 200, b"x" * size)

    async with serve(large) as served, connect(served.port) as conn:
        await conn.send(request("GET", "/large"))
        await wait_for_event(started)
        stopping = asyncio.create_task(served.server.stop())
        await wait_until(lambda: not served.server.running)
        release.set()
        head = await conn.read_head()  # the app finished before the client reads a byte
        assert head.header("content-length") == str(size)
        received = len(await conn.rest())
        assert received == size
        await asyncio.wait_for(stopping, TIMEOUT)


# ---- idle connections ----


async def test_idle_keep_alive_connection_is_closed_after_the_limit_but_a_busy_one_is_not() -> None:
    """With a 0.4 s keep-alive limit an idle connection is closed in time; one mid-request is left alone."""
    handler, started, release, _ = slow_app()
    async with (
        serve(handler, keep_alive_seconds=0.4) as served,
        connect(served.port) as busy,
        connect(served.port) as idle,
    ):
        await idle.send(request("GET", "/quick"))
        assert (await idle.response()).status == 200
        idle_from = time.monotonic()
        await busy.send(request("GET", "/slow"))  # this connection is older than the idle one
        await wait_for_event(started)
        assert await idle.rest() == b""
        assert 0.3 < time.monotonic() - idle_from < 3.0
        release.set()
        response = await busy.response()
        assert (response.status, response.body) == (200, b"finished")
