"""What a client may make a proxy port hold (proxy/http11.py ServerLimits), on real sockets with raw bytes.

Each bound is refused from `error_reply` (the provider's format), the connection closes, and the app
that was waiting on the body is told the client is gone, so nothing stays in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest

from rubberduck.proxy.http_limits import ServerLimits
from rubberduck.proxy.server import ProxyServer
from rubberduck.types import Receive, Scope, Send
from tests.support import free_port
from tests.unit.test_http11 import (
    TIMEOUT,
    App,
    Handler,
    Served,
    connect,
    echo,
    error_reply,
    read_body,
    request,
    respond,
    wait_until,
)

LIMITS = ServerLimits(
    max_head_bytes=8 * 1024, max_body_bytes=1024 * 1024, body_idle_seconds=0.3, body_total_seconds=1.0
)


@contextlib.asynccontextmanager
async def serve(handler: Handler, limits: ServerLimits = LIMITS) -> AsyncIterator[Served]:
    app = App(handler)
    port = free_port()
    server = ProxyServer(app, "127.0.0.1", port, TIMEOUT, limits)  # type: ignore[arg-type]
    await server.start()
    try:
        yield Served(server, app, port)
    finally:
        await server.stop(force=True)


def body_watcher() -> tuple[Handler, list[str]]:
    """A handler that reads the body and notes how it ended: `complete` or `disconnect`."""
    outcomes: list[str] = []

    async def handler(scope: Scope, receive: Receive, send: Send) -> None:
        body = await read_body(receive)
        outcomes.append("disconnect" if body is None else "complete")
        if body is not None:
            await respond(send, 200, b"%d" % len(body))

    return handler, outcomes


def assert_refused(
    served: Served, response_status: int, body: bytes, head: bytes, status: int, line: tuple[str, str]
) -> None:
    assert response_status == status, head
    assert [code for code, _ in served.app.errors] == [status]
    assert served.app.refused == [line]  # handed to error_reply, so the proxy logs the refused request
    assert body == error_reply(*served.app.errors[0])[2]  # the provider's format, via error_reply
    assert b"\r\nconnection: close\r\n" in head
    assert b"\r\nx-error-format: test\r\n" in head


# ---- headers ----


async def test_one_header_over_the_bound_gets_431_and_the_app_never_runs() -> None:
    async with serve(echo) as served, connect(served.port) as conn:
        await conn.send(request("GET", "/big", headers=[("X-Big", "a" * 20_000)]))
        response = await conn.response()
        assert_refused(served, response.status, response.body, response.head, 431, ("GET", "/big"))
        assert await conn.rest() == b""
        assert served.app.calls == []


async def test_a_head_that_never_ends_is_refused_once_past_the_bound_not_buffered_forever() -> None:
    """A header value sent in 4 KiB writes, never finished: 431 long before 1 MiB has been sent."""
    async with serve(echo) as served, connect(served.port) as conn:
        await conn.send(b"GET / HTTP/1.1\r\nHost: test\r\nX-Endless: ")
        sent = 0

        async def endless() -> None:
            nonlocal sent
            with contextlib.suppress(ConnectionError):
                while sent < 1024 * 1024:
                    await conn.send(b"a" * 4096)
                    sent += 4096
                    await asyncio.sleep(0.001)

        sender = asyncio.create_task(endless())
        try:
            response = await conn.response()
        finally:
            sender.cancel()
        assert_refused(served, response.status, response.body, response.head, 431, ("GET", "/"))
        assert sent < 1024 * 1024 / 4
        assert served.app.calls == []


async def test_headers_under_the_bound_are_served() -> None:
    async with serve(echo) as served, connect(served.port) as conn:
        await conn.send(request("GET", "/fine", headers=[("X-Some", "a" * 6000)]))
        assert (await conn.response()).status == 200


# ---- bodies ----


async def test_declared_length_over_the_limit_gets_413_before_the_body_is_read() -> None:
    """`Content-Length: 10737418240` with one byte sent: refused at once, the app never called."""
    async with serve(echo) as served, connect(served.port) as conn:
        began = time.monotonic()
        await conn.send(b"POST /upload HTTP/1.1\r\nHost: test\r\nContent-Length: 10737418240\r\n\r\nx")
        response = await conn.response()
        assert time.monotonic() - began < LIMITS.body_idle_seconds  # not a timeout: at once
        assert_refused(served, response.status, response.body, response.head, 413, ("POST", "/upload"))
        assert await conn.rest() == b""
        assert served.app.calls == []


async def test_a_malformed_chunk_size_gets_400_at_once_and_the_waiting_app_is_released() -> None:
    handler, outcomes = body_watcher()
    async with serve(handler) as served, connect(served.port) as conn:
        await conn.send(
            b"POST /chunked HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
        )
        await wait_until(lambda: served.app.active == 1)
        began = time.monotonic()
        await conn.send(b"zz-not-hex\r\nmore\r\n")
        response = await conn.response()
        assert time.monotonic() - began < LIMITS.body_idle_seconds
        assert_refused(served, response.status, response.body, response.head, 400, ("POST", "/chunked"))
        assert await conn.rest() == b""
        await wait_until(lambda: served.app.active == 0)
        assert outcomes == ["disconnect"]


@pytest.mark.parametrize("framing", ["length", "chunked"])
async def test_a_silent_body_gets_408_after_the_idle_timeout(framing: str) -> None:
    handler, outcomes = body_watcher()
    head = b"Content-Length: 100\r\n" if framing == "length" else b"Transfer-Encoding: chunked\r\n"
    first = b"x" * 10 if framing == "length" else b"a\r\n" + b"x" * 10 + b"\r\n"
    async with serve(handler) as served, connect(served.port) as conn:
        began = time.monotonic()
        await conn.send(b"POST /upload HTTP/1.1\r\nHost: test\r\n" + head + b"\r\n" + first)
        response = await conn.response()
        waited = time.monotonic() - began
        assert LIMITS.body_idle_seconds <= waited < LIMITS.body_total_seconds
        assert_refused(served, response.status, response.body, response.head, 408, ("POST", "/upload"))
        assert await conn.rest() == b""
        await wait_until(lambda: served.app.active == 0)
        assert outcomes == ["disconnect"]


@pytest.mark.parametrize("framing", ["length", "chunked"])
async def test_a_body_trickling_forever_gets_408_at_the_total_deadline(framing: str) -> None:
    """One byte (or one chunk) every 50 ms never trips the idle timeout; the total deadline ends it.

    (The idle timeout is set longer than the total here, so only the total deadline can end it.)"""
    limits = ServerLimits(max_head_bytes=8 * 1024, body_idle_seconds=5.0, body_total_seconds=1.0)
    handler, outcomes = body_watcher()
    head = b"Content-Length: 1000000\r\n" if framing == "length" else b"Transfer-Encoding: chunked\r\n"
    piece = b"x" if framing == "length" else b"1\r\nx\r\n"
    async with serve(handler, limits) as served, connect(served.port) as conn:
        began = time.monotonic()
        await conn.send(b"POST /upload HTTP/1.1\r\nHost: test\r\n" + head + b"\r\n")

        async def trickle() -> None:
            with contextlib.suppress(ConnectionError):
                while True:
                    await conn.send(piece)
                    await asyncio.sleep(0.05)

        trickler = asyncio.create_task(trickle())
        try:
            response = await conn.response()
        finally:
            trickler.cancel()
        waited = time.monotonic() - began
        assert limits.body_total_seconds <= waited < limits.body_idle_seconds
        assert_refused(served, response.status, response.body, response.head, 408, ("POST", "/upload"))
        await wait_until(lambda: served.app.active == 0)
        assert outcomes == ["disconnect"]


async def test_a_steady_body_within_the_limits_is_served_and_the_connection_kept() -> None:
    handler, outcomes = body_watcher()
    async with serve(handler) as served, connect(served.port) as conn:
        await conn.send(b"POST /upload HTTP/1.1\r\nHost: test\r\nContent-Length: 6\r\n\r\n")
        for byte in b"abcdef":
            await asyncio.sleep(0.1)  # under the idle timeout each time, well under the total
            await conn.send(bytes([byte]))
        response = await conn.response()
        assert (response.status, response.body) == (200, b"6")
        await conn.send(request("POST", "/again", b"xy"))
        assert (await conn.response()).body == b"2"
        assert outcomes == ["complete", "complete"]


async def test_an_answer_given_before_the_body_ended_closes_the_connection() -> None:
    """An app that refuses a chunked body mid-way: the connection closes rather than drain it forever."""

    async def refuse_early(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await respond(send, 413, b"too large")

    async with serve(refuse_early) as served, connect(served.port) as conn:
        await conn.send(b"POST /x HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
        response = await conn.response()
        assert (response.status, response.body) == (413, b"too large")
        assert response.header("connection") == "close"
        assert await conn.rest() == b""
        assert served.app.errors == []
