"""The proxy ports' HTTP/1.1 server: httptools parsing and one ASGI call per request, nothing more.

The control plane runs on uvicorn; the proxy ports do not. A cache hit is a few microseconds of our
own work, and uvicorn's general-purpose machinery per request (a keep-alive timer armed and
cancelled, header checks by regular expression, the response head and body written separately)
cost more than the hit itself. This server does what a proxy port needs: keep-alive and pipelining,
length-delimited and chunked bodies both ways, `Expect: 100-continue`, back-pressure both ways,
client disconnects reported to the app as `http.disconnect`, graceful and forced shutdown.

What a client may make a port hold is bounded (`ServerLimits`): a request head past its size gets a
431, a declared body past the body limit a 413 before any of it is read, a malformed chunk a 400, and
a body that stalls or drags past its timeouts a 408 — each from `error_reply`, in the provider's
format, and the connection closes. The body timeouts are checked by the server's one periodic sweep
(server.py), never by a timer per request.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any
from urllib.parse import unquote

import httptools

from rubberduck.proxy.http_cycle import STATUS_LINES, ASGIApp, DateHeader, RequestCycle, status_line
from rubberduck.proxy.http_limits import ErrorReply, RefusedLine, RefusedRequest, ServerLimits
from rubberduck.types import RawHeaders, Scope

REQUEST_BODY_HIGH_WATER = 256 * 1024  # buffered request bytes before reading pauses
# httptools puts no bound on either; a request past them is answered 400 and the connection closed.
MAX_URL_BYTES = 64 * 1024
MAX_HEADERS = 256
# After a refusal, what the client still sends is read and dropped this long before the close: a socket
# closed with unread bytes is reset by the kernel, and the client may never see the answer.
LINGER_SECONDS = 2.0
_ASGI = {"version": "3.0", "spec_version": "2.3"}


class ServerState:
    """What a server's shutdown needs: its open connections and the requests still running."""

    def __init__(
        self,
        app: ASGIApp,
        error_reply: ErrorReply,
        keep_alive_seconds: float,
        limits: ServerLimits | None = None,
    ) -> None:
        self.app = app
        self.error_reply = error_reply
        self.keep_alive_seconds = keep_alive_seconds
        self.limits = limits or ServerLimits()
        self.connections: set[HttpConnection] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.all_closed = asyncio.Event()  # set while no connection is open (a graceful stop waits)
        self.all_closed.set()
        self.date = DateHeader()


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
        self.refused = False  # answered with an error; closes after a short linger
        self._url = b""
        self._headers: RawHeaders = []
        self._expect_continue = False
        self._content_length: bytes | None = None
        self._head_size = 0  # bytes of the complete header lines seen so far (exact)
        # Reads so far; the read in which the current request head began (-1: no head in progress); the
        # bytes of the later reads of that head. Together they bound a head too large to ever complete.
        self.reads = 0
        self.head_began = -1
        self.head_bytes = 0
        # The sweep's watch over the body being received: which request, since when, progress seen.
        self.watched: RequestCycle | None = None
        self.watch_since = 0.0
        self.watch_progress = 0.0
        self.watch_reads = 0

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
        if self.upgraded or self.refused:
            return  # after an upgrade request it is not HTTP/1.1; after a refusal it is dropped
        self.reads += 1
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._upgrade_requested()
        except httptools.HttpParserError as exc:
            self._parse_failed(exc)
        else:
            if 0 <= self.head_began < self.reads:  # all of this read belongs to a head still incomplete
                self.head_bytes += len(data)
                if self.head_bytes > self.state.limits.max_head_bytes:
                    self._refuse(RefusedRequest(431, "Rubberduck: the request headers are too large."))

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        self._release_writer()

    # ---- httptools callbacks ----

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._expect_continue = False
        self._content_length = None
        self._head_size = 0
        self.head_began = self.reads
        self.head_bytes = 0

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > MAX_URL_BYTES:
            raise ValueError("request target too long")  # surfaces as a parser error: a 400

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        self._headers.append((name, value))
        if name == b"content-length":
            self._content_length = value
        elif name == b"expect" and value.lower() == b"100-continue":
            self._expect_continue = True
        self._head_size += len(name) + len(value) + 4
        if (
            len(self._headers) > MAX_HEADERS
            or self._head_size + len(self._url) > self.state.limits.max_head_bytes
        ):
            raise RefusedRequest(431, "Rubberduck: the request headers are too large.")

    def on_headers_complete(self) -> None:
        limit = self.state.limits.max_body_bytes
        if limit is not None and self._content_length is not None and int(self._content_length) > limit:
            # Refused on its declared length: not a byte of the body is read or held.
            raise RefusedRequest(413, f"Request body exceeds the limit of {limit} bytes.")
        self.head_began = -1
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
        cycle = RequestCycle(self, scope, self.parser.should_keep_alive(), self._expect_continue)
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

    def check_body(self, now: float) -> None:
        """The sweep's look at the body being received: one that stalls or drags on gets a 408.

        Idle: no bytes read for `body_idle_seconds`. Total: the body not complete `body_total_seconds`
        after the sweep first saw it; only this stops a body trickling in a byte at a time. A body
        whose reading is paused (the app has not taken what came) is not the client's to hurry, and one
        queued behind another response is not watched until its turn.
        """
        cycle = self.parsing
        if cycle is None or cycle is not self.cycle or not cycle.more_body or cycle.disconnected:
            self.watched = None
            return
        if cycle is not self.watched:
            self.watched, self.watch_reads = cycle, self.reads
            self.watch_since = self.watch_progress = now
            return
        if self.reads != self.watch_reads or self.reading_paused:
            self.watch_reads, self.watch_progress = self.reads, now
        limits = self.state.limits
        if (
            now - self.watch_progress > limits.body_idle_seconds
            or now - self.watch_since > limits.body_total_seconds
        ):
            self.watched = None
            cycle.disconnected = True  # the app's receive() reports a client gone; nobody waits on it
            cycle.wake()
            if cycle.response_started:
                self.transport.close()
            else:
                self._reject(408, "Rubberduck: the request body was not received in time.")

    # ---- internals ----

    def _parse_failed(self, exc: httptools.HttpParserError) -> None:
        refusal = exc.__context__ if isinstance(exc.__context__, RefusedRequest) else None
        if refusal is not None:
            self._refuse(refusal)
            return
        cycle = self.parsing
        if cycle is not None and cycle.more_body and cycle is self.cycle:
            # A malformed chunk: the body can never complete, so its request is answered now.
            self._refuse(RefusedRequest(400, "Rubberduck: the request body is not valid chunked encoding."))
        elif self.cycle is None:
            self._reject(400, "Rubberduck: the request is not valid HTTP/1.1.")
        else:  # answer what came before the bad bytes, then close
            self.closing = True
            self._pause_reading()

    def _refuse(self, refusal: RefusedRequest) -> None:
        """Answer the request being parsed with `refusal`, then close; a response under way finishes first."""
        cycle = self.parsing
        if cycle is not None and cycle.more_body and cycle is self.cycle and not cycle.response_started:
            cycle.disconnected = True  # its app sees a client that is gone, and cannot answer
            cycle.wake()
        elif self.cycle is not None:  # the refused request waits behind a response still being written
            self.closing = True
            self._pause_reading()
            return
        self._reject(refusal.status, refusal.message)

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
        status, headers, body = self.state.error_reply(status, message, self._refused_line())
        head = [STATUS_LINES.get(status) or status_line(status), self.state.date.line()]
        head += [name + b": " + value + b"\r\n" for name, value in headers]
        head.append(b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body))
        self.transport.write(b"".join(head) + body)
        if self.refused or not self.transport.can_write_eof():
            self.transport.close()
            return
        self.refused = True
        self.transport.write_eof()  # the answer is complete; the client's late bytes are read and dropped
        self._resume_reading()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def _refused_line(self) -> RefusedLine | None:
        """Method, path and client of the request being refused, if its request line was read."""
        client = self.client[0] if self.client else None
        if self.head_began >= 0:  # refused while its head was arriving
            if not self._url:
                return None
            try:
                method = self.parser.get_method().decode("ascii")
                raw_path: bytes = httptools.parse_url(self._url).path
            except (httptools.HttpParserError, UnicodeDecodeError):
                return None
            return method, unquote(raw_path.decode("latin-1")), client
        cycle = self.parsing
        if cycle is None or cycle.response_complete:
            return None
        return cycle.scope["method"], cycle.scope["path"], client

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


def _address(info: Any) -> tuple[str, int] | None:
    if isinstance(info, tuple) and len(info) >= 2:
        return str(info[0]), int(info[1])
    return None
