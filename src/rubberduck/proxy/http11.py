"""The proxy ports' HTTP/1.1 server: httptools parsing and one ASGI call per request, nothing more.

The control plane runs on uvicorn; the proxy ports do not. A cache hit is a few microseconds of our
own work, and uvicorn's general-purpose machinery per request (a keep-alive timer armed and
cancelled, header checks by regular expression, the response head and body written separately)
cost more than the hit itself. This server does what a proxy port needs: keep-alive and pipelining,
length-delimited and chunked bodies both ways, `Expect: 100-continue`, back-pressure both ways,
client disconnects reported to the app as `http.disconnect`, graceful and forced shutdown.
"""

from __future__ import annotations

import asyncio
import http
import logging
import time
from collections import deque
from collections.abc import Callable
from email.utils import formatdate
from typing import Any
from urllib.parse import unquote

import httptools

from rubberduck.types import RawHeaders, Scope

logger = logging.getLogger("rubberduck.proxy")

ASGIApp = Callable[..., Any]
# (status, message) -> (status, headers, body) of an error in the provider's own format.
ErrorReply = Callable[[int, str], tuple[int, RawHeaders, bytes]]

REQUEST_BODY_HIGH_WATER = 256 * 1024  # buffered request bytes before reading pauses
# httptools puts no bound on either; a request past them is answered 400 and the connection closed.
MAX_URL_BYTES = 64 * 1024
MAX_HEADERS = 256
_ASGI = {"version": "3.0", "spec_version": "2.3"}
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def _status_line(status: int) -> bytes:
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    return f"HTTP/1.1 {status} {phrase}\r\n".encode()


_STATUS_LINES = {status: _status_line(status) for status in range(100, 600)}


class _DateHeader:
    """The `date` header, formatted once per second rather than once per response."""

    def __init__(self) -> None:
        self._second = -1
        self._line = b""

    def line(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._line = b"date: " + formatdate(now, usegmt=True).encode() + b"\r\n"
        return self._line


class ServerState:
    """What a server's shutdown needs: its open connections and the requests still running."""

    def __init__(self, app: ASGIApp, error_reply: ErrorReply, keep_alive_seconds: float) -> None:
        self.app = app
        self.error_reply = error_reply
        self.keep_alive_seconds = keep_alive_seconds
        self.connections: set[HttpConnection] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.all_closed = asyncio.Event()  # set while no connection is open (a graceful stop waits)
        self.all_closed.set()
        self.date = _DateHeader()


class HttpConnection(asyncio.Protocol):
    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.loop = asyncio.get_running_loop()
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # set in connection_made
        self.client: tuple[str, int] | None = None
        self.server: tuple[str, int] | None = None
        self.cycle: RequestCycle | None = None  # the request whose response is being written
        self.parsing: RequestCycle | None = None  # the request whose body is arriving
        self.pipeline: deque[RequestCycle] = deque()
        self.idle_since = self.loop.time()
        self.write_paused = False
        self.drained: asyncio.Future[None] | None = None
        self.reading_paused = False
        self.closing = False  # shutdown asked: close after the current response
        self.upgraded = False
        self._url = b""
        self._headers: RawHeaders = []

    # ---- asyncio.Protocol ----

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.client = _address(transport.get_extra_info("peername"))
        self.server = _address(transport.get_extra_info("sockname"))
        self.state.connections.add(self)
        self.state.all_closed.clear()

    def connection_lost(self, exc: Exception | None) -> None:
        self.state.connections.discard(self)
        if not self.state.connections:
            self.state.all_closed.set()
        for cycle in (self.cycle, self.parsing, *self.pipeline):
            if cycle is not None:
                cycle.disconnected = True
                cycle.wake()
        self.pipeline.clear()
        self._release_writer()

    def data_received(self, data: bytes) -> None:
        if self.upgraded:
            return  # what follows an upgrade request is not HTTP/1.1: nothing to read in it
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._upgrade_requested()
        except httptools.HttpParserError:
            if self.cycle is None:
                self._reject(400, "Rubberduck: the request is not valid HTTP/1.1.")
            else:  # answer what came before the bad bytes, then close
                self.closing = True
                self._pause_reading()

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        self._release_writer()

    # ---- httptools callbacks ----

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > MAX_URL_BYTES:
            raise ValueError("request target too long")  # surfaces as a parser error: a 400

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))
        if len(self._headers) > MAX_HEADERS:
            raise ValueError("too many headers")

    def on_headers_complete(self) -> None:
        url = httptools.parse_url(self._url)
        raw_path: bytes = url.path
        path = raw_path.decode("ascii")
        if "%" in path:
            path = unquote(path)
        scope: Scope = {
            "type": "http",
            "asgi": _ASGI,
            "http_version": self.parser.get_http_version(),
            "method": self.parser.get_method().decode("ascii"),
            "scheme": "http",
            "path": path,
            "raw_path": raw_path,
            "query_string": url.query or b"",
            "root_path": "",
            "headers": self._headers,
            "client": self.client,
            "server": self.server,
        }
        expect_continue = any(n == b"expect" and v.lower() == b"100-continue" for n, v in self._headers)
        cycle = RequestCycle(self, scope, self.parser.should_keep_alive(), expect_continue)
        self.parsing = cycle
        if self.cycle is None:
            self.cycle = cycle
            cycle.start()
        else:  # pipelined behind a response still being written: it waits its turn
            self.pipeline.append(cycle)
            self._pause_reading()

    def on_body(self, body: bytes) -> None:
        cycle = self.parsing
        if cycle is None or cycle.response_complete or cycle.disconnected:
            return  # answered already (e.g. 413): the rest of the body is read and dropped
        cycle.body.append(body)
        cycle.buffered += len(body)
        if cycle.buffered > REQUEST_BODY_HIGH_WATER:
            self._pause_reading()
        cycle.wake()

    def on_message_complete(self) -> None:
        cycle = self.parsing
        if cycle is not None:
            cycle.more_body = False
            cycle.wake()

    # ---- called by the request cycle ----

    def response_done(self, cycle: RequestCycle) -> None:
        if not cycle.keep_alive or self.closing:
            self.transport.close()
            return
        self.cycle = None
        self.idle_since = self.loop.time()
        if self.pipeline:
            self.cycle = self.pipeline.popleft()
            self.cycle.start()
        if not self.pipeline:
            self._resume_reading()

    async def drain(self) -> None:
        if self.drained is None:
            self.drained = self.loop.create_future()
        await self.drained

    def resume_reading_for(self, cycle: RequestCycle) -> None:
        if cycle is self.parsing and not self.pipeline:
            self._resume_reading()

    def shutdown(self) -> None:
        """Graceful stop: idle connections close now, busy ones after their response."""
        self.closing = True
        if self.cycle is None:
            self.transport.close()

    def idle_for(self, now: float) -> float:
        return 0.0 if self.cycle is not None else now - self.idle_since

    # ---- internals ----

    def _upgrade_requested(self) -> None:
        """A request asked to switch protocols (h2c, websocket): a proxy port speaks only HTTP/1.1.

        The parser stops at such a request's headers and reads nothing after them. A request without a
        body is served as plain HTTP, and the connection closes after it; one with a body (which the
        parser no longer delivers) is refused rather than served empty.
        """
        self.upgraded = True
        cycle = self.parsing
        if cycle is None:
            return
        headers = cycle.scope["headers"]
        has_body = any(
            (name == b"content-length" and value.strip() != b"0") or name == b"transfer-encoding"
            for name, value in headers
        )
        if has_body and cycle is self.cycle:
            cycle.disconnected = True  # its app sees a client that is gone, and cannot answer
            self._reject(400, "Rubberduck: protocol upgrades are not supported on this port.")
        else:
            cycle.keep_alive = False

    def _reject(self, status: int, message: str) -> None:
        status, headers, body = self.state.error_reply(status, message)
        head = [_STATUS_LINES.get(status) or _status_line(status), self.state.date.line()]
        head += [name + b": " + value + b"\r\n" for name, value in headers]
        head.append(b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body))
        self.transport.write(b"".join(head) + body)
        self.transport.close()

    def _pause_reading(self) -> None:
        if not self.reading_paused:
            self.reading_paused = True
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        if self.reading_paused:
            self.reading_paused = False
            self.transport.resume_reading()

    def _release_writer(self) -> None:
        drained, self.drained = self.drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)


class RequestCycle:
    """One request and its response on a connection: the ASGI `receive` and `send` of one app call."""

    __slots__ = (
        "body",
        "buffered",
        "chunked",
        "connection",
        "disconnected",
        "expect_continue",
        "head",
        "keep_alive",
        "more_body",
        "ready",
        "remaining",
        "response_complete",
        "response_started",
        "scope",
        "waiter",
    )  # fmt: skip

    def __init__(
        self, connection: HttpConnection, scope: Scope, keep_alive: bool, expect_continue: bool
    ) -> None:
        self.connection = connection
        self.scope = scope
        self.keep_alive = keep_alive
        self.expect_continue = expect_continue
        self.body: list[bytes] = []
        self.buffered = 0
        self.more_body = True
        self.disconnected = False
        self.response_started = False
        self.response_complete = False
        self.chunked = False
        self.head: bytes | None = None  # held back to go out in one write with the first body bytes
        self.remaining = 0  # body bytes still due under Content-Length
        self.waiter: asyncio.Future[None] | None = None
        self.ready = False  # something for `receive` (body, end of body, disconnect) since it last ran

    def start(self) -> None:
        state = self.connection.state
        task = self.connection.loop.create_task(self.run(state.app))
        state.tasks.add(task)
        task.add_done_callback(state.tasks.discard)

    def wake(self) -> None:
        self.ready = True
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def run(self, app: ASGIApp) -> None:
        connection = self.connection
        try:
            await app(self.scope, self.receive, self.send)
        except BaseException as exc:
            if not isinstance(exc, asyncio.CancelledError):
                logger.exception("proxy request failed: %s %s", self.scope["method"], self.scope["path"])
            if not self.response_started and not self.disconnected:
                reply = connection.state.error_reply(500, "Rubberduck hit an internal error.")
                await self._send_error(*reply)
            elif not self.response_complete:
                connection.transport.close()
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        if not self.response_started and not self.disconnected:
            reply = connection.state.error_reply(500, "Rubberduck: the request got no response.")
            await self._send_error(*reply)
        elif not self.response_complete and not self.disconnected:
            # An app that stops mid-response (a simulated stream cut) leaves the client a broken
            # response, exactly like a dropped connection: close without the final chunk.
            connection.transport.close()

    async def _send_error(self, status: int, headers: RawHeaders, body: bytes) -> None:
        extra = [(b"content-length", str(len(body)).encode()), (b"connection", b"close")]
        await self.send({"type": "http.response.start", "status": status, "headers": headers + extra})
        await self.send({"type": "http.response.body", "body": body})

    async def receive(self) -> dict[str, Any]:
        connection = self.connection
        if self.expect_continue and not self.response_started:
            self.expect_continue = False
            if not self.disconnected:
                connection.transport.write(_CONTINUE)
        if not self.ready and not self.disconnected and not self.response_complete:
            connection.resume_reading_for(self)
            self.waiter = connection.loop.create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        self.ready = False
        if self.disconnected or self.response_complete:
            return {"type": "http.disconnect"}
        body = self.body[0] if len(self.body) == 1 else b"".join(self.body)
        self.body = []
        self.buffered = 0
        connection.resume_reading_for(self)
        return {"type": "http.request", "body": body, "more_body": self.more_body}

    async def send(self, message: dict[str, Any]) -> None:
        connection = self.connection
        if connection.write_paused and not self.disconnected:
            await connection.drain()
        if self.disconnected:
            return
        if not self.response_started:
            if message["type"] != "http.response.start":
                raise RuntimeError(f"expected http.response.start, got {message['type']}")
            self._start(message["status"], message.get("headers", ()))
            return
        if self.response_complete:
            raise RuntimeError("the response is already complete")
        if message["type"] != "http.response.body":
            raise RuntimeError(f"expected http.response.body, got {message['type']}")
        body: bytes = message.get("body", b"")
        more_body: bool = message.get("more_body", False)
        if self.scope["method"] == "HEAD":
            data = b""
        elif self.chunked:
            data = b"%x\r\n%b\r\n" % (len(body), body) if body else b""
            if not more_body:
                data += b"0\r\n\r\n"
        else:
            self.remaining -= len(body)
            if self.remaining < 0:
                raise RuntimeError("response body longer than its Content-Length")
            data = body
        if self.head is not None:
            data = self.head + data
            self.head = None
        if data:
            connection.transport.write(data)
        if not more_body:
            if self.remaining > 0 and not self.chunked and self.scope["method"] != "HEAD":
                raise RuntimeError("response body shorter than its Content-Length")
            self.response_complete = True
            self.wake()
            connection.response_done(self)

    def _start(self, status: int, headers: RawHeaders) -> None:
        self.response_started = True
        self.expect_continue = False
        # The headers come from the upstream's parsed response, the cache or our own code: none can
        # carry a line break, so they are written as they are.
        head = [_STATUS_LINES.get(status) or _status_line(status)]
        length: int | None = None
        has_date = False
        for name, value in headers:
            name = name.lower()
            if name == b"content-length":
                length = int(value)
                continue  # written below, once
            elif name == b"transfer-encoding":
                continue  # ours to decide below
            elif name == b"connection":
                if b"close" in value.lower():
                    self.keep_alive = False
                continue
            elif name == b"date":
                has_date = True
            head += (name, b": ", value, b"\r\n")
        if not has_date:
            head.append(self.connection.state.date.line())
        bodiless = self.scope["method"] == "HEAD" or status in (204, 304) or status < 200
        if length is not None:
            self.remaining = 0 if bodiless else length  # a 304's length describes a body never sent
            head.append(b"content-length: %d\r\n" % length)
        elif not bodiless:
            self.chunked = True
            head.append(b"transfer-encoding: chunked\r\n")
        if not self.keep_alive or self.connection.closing:
            self.keep_alive = False
            head.append(b"connection: close\r\n")
        head.append(b"\r\n")
        self.head = b"".join(head)
        if self.chunked or bodiless:
            # A stream's first event may be a while coming: its head goes out now.
            self.connection.transport.write(self.head)
            self.head = None


def _address(info: Any) -> tuple[str, int] | None:
    if isinstance(info, tuple) and len(info) >= 2:
        return str(info[0]), int(info[1])
    return None
