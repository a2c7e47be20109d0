"""A fake upstream LLM provider: a tiny ASGI app served by uvicorn on a real socket in a background thread.

Tests are synchronous, so the server gets its own thread and event loop; everything the test thread touches
(routes, the request log) is guarded by a lock, and the loop is only poked via call_soon_threadsafe.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any
from urllib.parse import unquote

import uvicorn

from tests.fakes.cassette import GZIP_MAGIC, Recording
from tests.fakes.sse import split_sse_events

Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# Framing is the server's job: a stale length or a second transfer-encoding would corrupt the response.
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding"})


@dataclass(frozen=True)
class FakeRequest:
    method: str
    path: str  # raw path as sent on the wire (percent-encoding kept), without the query
    query: str
    headers: dict[str, str]  # lower-cased names; repeated headers joined by ", "
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeResponse:
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    chunks: list[bytes] | None = None  # when set: streamed, one http.response.body message per chunk
    hang: bool = False  # never answer; return once the client gives up
    delay: float = 0.0  # seconds to wait before the status line
    # Pacing of a streamed body, overriding the FakeUpstream's (None: the upstream's own).
    event_gap: float | None = None
    tail_gap: float | None = None

    @classmethod
    def json(cls, status: int, payload: Any, headers: Iterable[tuple[str, str]] = ()) -> FakeResponse:
        return cls(status, [("content-type", "application/json"), *headers], json.dumps(payload).encode())


Handler = Callable[[FakeRequest], Awaitable[FakeResponse]]


@dataclass(frozen=True)
class _Route:
    handler: Handler
    hold_after: int | None


@dataclass(frozen=True)
class _LoopState:
    """Objects that live on the server's loop; recreated on every start() so a restart gets fresh ones."""

    loop: asyncio.AbstractEventLoop
    gate: asyncio.Event  # opened by release()
    closing: asyncio.Event  # set by stop(): unblocks hangs and held streams so shutdown never waits on them


_NO_ROUTE = FakeResponse.json(404, {"error": "fake upstream: no route"})
_SHUTTING_DOWN = FakeResponse.json(503, {"error": "fake upstream: shutting down"})


# Streams are paced like a real provider's: a short gap between events, and a longer one between the
# last event and the end of the body (when SDKs that stop at the final event have already hung up).
EVENT_GAP_S = 0.002
TAIL_GAP_S = 0.05


class FakeUpstream:
    def __init__(
        self, *, gate_timeout: float = 30.0, event_gap: float = EVENT_GAP_S, tail_gap: float = TAIL_GAP_S
    ) -> None:
        self.gate_timeout = gate_timeout  # a held stream continues by itself after this, so no test hangs
        # Seconds before each streamed chunk after the first, and before the end of a streamed body;
        # zero sends a stream back to back. A FakeResponse may set its own.
        self.event_gap = event_gap
        self.tail_gap = tail_gap
        self._lock = threading.Lock()
        self._routes: dict[tuple[str, str], _Route] = {}
        self._requests: list[FakeRequest] = []
        self._counts: Counter[tuple[str, str]] = Counter()
        self._released = False
        self._state: _LoopState | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    # ---- routes -------------------------------------------------------------------------------------------

    def add(
        self,
        method: str,
        path: str,
        response: Recording | FakeResponse,
        *,
        stream: bool = False,
        hold_after: int | None = None,
    ) -> None:
        """Answer `method path` with a fixed response; `stream=True` sends the body one SSE event per chunk."""
        fixed = _streamed(_as_response(response)) if stream else _as_response(response)

        async def answer(_request: FakeRequest) -> FakeResponse:
            return fixed

        self.add_handler(method, path, answer, hold_after=hold_after)

    def add_handler(self, method: str, path: str, handler: Handler, *, hold_after: int | None = None) -> None:
        with self._lock:  # the newest registration for a method+path wins
            self._routes[(method.upper(), path)] = _Route(handler, hold_after)

    # ---- inspection ---------------------------------------------------------------------------------------

    @property
    def requests(self) -> list[FakeRequest]:
        with self._lock:
            return list(self._requests)

    def count(self, method: str, path: str) -> int:
        with self._lock:
            return self._counts[(method.upper(), path)]

    def reset_counts(self) -> None:
        """Forget every request seen so far (counts and the `requests` log)."""
        with self._lock:
            self._counts.clear()
            self._requests.clear()

    def release(self) -> None:
        """Open the gate for streams registered with hold_after (stays open until the server restarts)."""
        with self._lock:
            self._released = True
            state = self._state
        if state is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed: nothing left to release
                state.loop.call_soon_threadsafe(state.gate.set)

    # ---- lifecycle ----------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._port is None:
            raise RuntimeError("FakeUpstream is not started")
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> FakeUpstream:
        if self._thread is not None:
            raise RuntimeError("FakeUpstream is already started")
        # Binding here (not in uvicorn) means the port is known before the thread even runs.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self,
            lifespan="off",
            log_level="warning",
            log_config=None,  # leave global logging alone; warnings still reach pytest via the root logger
            access_log=False,
            server_header=False,  # recordings carry their own Server/Date headers
            date_header=False,
            proxy_headers=False,  # X-Forwarded-* sent by a proxy under test must not rewrite the scope
            ws="none",
            timeout_graceful_shutdown=5,  # last resort, e.g. a client that stopped reading mid-stream
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, args=(sock,), name="fake-upstream", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("FakeUpstream failed to start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        server, thread, state = self._server, self._thread, self._state
        if server is None or thread is None:
            return
        if state is not None:
            with contextlib.suppress(RuntimeError):  # the loop may already be gone if serving crashed
                state.loop.call_soon_threadsafe(state.closing.set)
        server.should_exit = True
        thread.join(timeout=15)
        if thread.is_alive():
            raise RuntimeError("FakeUpstream did not stop within 15 s")
        self._server = self._thread = self._state = None
        self._port = None

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _run(self, sock: socket.socket) -> None:
        asyncio.run(self._serve(sock))

    async def _serve(self, sock: socket.socket) -> None:
        state = _LoopState(asyncio.get_running_loop(), asyncio.Event(), asyncio.Event())
        with self._lock:
            if self._released:  # release() called before start()
                state.gate.set()
            self._state = state
        assert self._server is not None
        await self._server.serve(sockets=[sock])  # uvicorn closes the socket on shutdown

    # ---- ASGI ---------------------------------------------------------------------------------------------

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan is off and websockets are not faked
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        request, route = self._record(scope, bytes(body))
        response = await route.handler(request) if route else _NO_ROUTE
        disconnected = asyncio.Event()
        watcher = asyncio.create_task(_watch_disconnect(receive, disconnected))
        try:
            await self._respond(send, response, route.hold_after if route else None, disconnected)
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)

    def _record(self, scope: Message, body: bytes) -> tuple[FakeRequest, _Route | None]:
        method = scope["method"].upper()
        # Match on the raw path (what a proxy forwarded), but also accept a route registered decoded,
        # e.g. "/model/x:0/invoke" for boto3's "/model/x%3A0/invoke".
        raw_path = scope.get("raw_path", b"").decode("latin-1") or scope["path"]
        decoded = unquote(raw_path)
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            key, text = name.decode("latin-1").lower(), value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        request = FakeRequest(method, raw_path, scope["query_string"].decode("latin-1"), headers, body)
        with self._lock:
            self._requests.append(request)
            for path in {raw_path, decoded}:
                self._counts[(method, path)] += 1
            route = self._routes.get((method, raw_path)) or self._routes.get((method, decoded))
        return request, route

    async def _respond(
        self, send: Send, response: FakeResponse, hold_after: int | None, disconnected: asyncio.Event
    ) -> None:
        state = self._state
        assert state is not None
        if response.delay:
            await _wait_any([disconnected, state.closing], seconds=response.delay)
        if response.hang:
            await _wait_any([disconnected, state.closing], seconds=None)
            # Still connected means stop() was called: answer so that shutdown is not blocked by the client.
            response = _SHUTTING_DOWN
        if disconnected.is_set():
            return
        streamed = response.chunks is not None
        parts = response.chunks if response.chunks is not None else [response.body]
        headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in response.headers
            if name.lower() not in _FRAMING_HEADERS
        ]
        if not streamed:  # a plain body gets a length; a streamed one goes out chunked
            headers.append((b"content-length", str(len(response.body)).encode()))
        event_gap = self.event_gap if response.event_gap is None else response.event_gap
        tail_gap = self.tail_gap if response.tail_gap is None else response.tail_gap
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        for index, part in enumerate(parts):
            if streamed and index and event_gap:
                await asyncio.sleep(event_gap)
            if index == hold_after:
                await _wait_any([state.gate, state.closing, disconnected], seconds=self.gate_timeout)
            if disconnected.is_set():  # the client went away mid-stream: stop quietly
                return
            await send({"type": "http.response.body", "body": part, "more_body": streamed})
        if streamed:
            if tail_gap:  # the last event is out; the body ends a little later
                await _wait_any([disconnected, state.closing], seconds=tail_gap)
            await send({"type": "http.response.body", "body": b"", "more_body": False})


def _as_response(response: Recording | FakeResponse) -> FakeResponse:
    if isinstance(response, Recording):
        return FakeResponse(response.status, list(response.headers), response.body)
    return response


def _streamed(response: FakeResponse) -> FakeResponse:
    """Cut an SSE body into one chunk per event (explicit chunks, e.g. AWS eventstream, are kept)."""
    if response.chunks is not None:
        return response
    if not response.body.startswith(GZIP_MAGIC):
        return replace(response, chunks=split_sse_events(response.body))
    # A gzip'd SSE recording (anthropic/messages_stream_tool_use.yaml): re-compress event by event with a
    # sync flush, like a real server, so each chunk is decodable on arrival and Content-Encoding stays true.
    compressor = zlib.compressobj(wbits=31)  # 31 = gzip container
    events = split_sse_events(zlib.decompress(response.body, wbits=47))  # 47 = auto-detect gzip/zlib
    chunks = [compressor.compress(event) + compressor.flush(zlib.Z_SYNC_FLUSH) for event in events] or [b""]
    chunks[-1] += compressor.flush()  # the gzip trailer rides with the last event
    return replace(response, chunks=chunks)


async def _watch_disconnect(receive: Receive, disconnected: asyncio.Event) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    disconnected.set()


async def _wait_any(events: Iterable[asyncio.Event], *, seconds: float | None) -> None:
    """Wait until any event is set, or `seconds` pass (None: no limit)."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
