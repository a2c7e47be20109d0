"""One request and its response on a proxy port's connection: the ASGI `receive` and `send`.

The response head is held back until the first body bytes when the length is known, so a small
response (a cache hit) leaves in a single write; a stream's head goes out at once.
"""

from __future__ import annotations

import asyncio
import http
import logging
import time
from collections.abc import Callable
from email.utils import formatdate
from typing import TYPE_CHECKING, Any

from rubberduck.types import RawHeaders, Scope

if TYPE_CHECKING:
    from rubberduck.proxy.http11 import HttpConnection

logger = logging.getLogger("rubberduck.proxy")

ASGIApp = Callable[..., Any]
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def status_line(status: int) -> bytes:
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    return f"HTTP/1.1 {status} {phrase}\r\n".encode()


STATUS_LINES = {status: status_line(status) for status in range(100, 600)}


class DateHeader:
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
    )

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
                reply = connection.state.error_reply(500, "Rubberduck hit an internal error.", None)
                await self._send_error(*reply)
            elif not self.response_complete:
                connection.transport.close()
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        if not self.response_started and not self.disconnected:
            reply = connection.state.error_reply(500, "Rubberduck: the request got no response.", None)
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
                connection.transport.write(CONTINUE)
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
        head = [STATUS_LINES.get(status) or status_line(status)]
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
        if not self.keep_alive or self.connection.closing or self.more_body:
            # A request whose body is still coming is answered without reading the rest: the
            # connection cannot carry another request, and closing it frees what the body held.
            self.keep_alive = False
            head.append(b"connection: close\r\n")
        head.append(b"\r\n")
        self.head = b"".join(head)
        if self.chunked or bodiless:
            # A stream's first event may be a while coming: its head goes out now.
            self.connection.transport.write(self.head)
            self.head = None
