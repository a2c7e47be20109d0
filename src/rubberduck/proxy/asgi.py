"""The data plane: a pure ASGI app, one per proxy instance. No FastAPI, no DB reads per request."""

from __future__ import annotations

import asyncio
import logging
import time

from rubberduck.providers.base import ErrorReply, RequestView, Route, kind_for_status
from rubberduck.proxy.exchange import Exchange, ProxyResponse
from rubberduck.proxy.headers import header_dict
from rubberduck.proxy.http_limits import RefusedLine
from rubberduck.proxy.namespace import NAMESPACE_HEADER, NAMESPACE_PREFIX, NamespaceError, split_namespace
from rubberduck.proxy.paths import path_problem
from rubberduck.proxy.reading import RequestReader
from rubberduck.proxy.respond import log_row, send_response, send_simple
from rubberduck.proxy.runtime import ProxyRuntime
from rubberduck.proxy.stages import Stage
from rubberduck.telemetry.logsink import LogSink
from rubberduck.types import RawHeaders, Receive, Scope, Send

logger = logging.getLogger("rubberduck.proxy")

INVALID_JSON = "We could not parse the JSON body of your request: it is not valid JSON."


class BodyTooLarge(Exception):
    pass


class ClientGone(Exception):
    """The client hung up before its request body was complete: nothing to forward, nobody to answer."""


class ProxyApp:
    def __init__(self, runtime: ProxyRuntime, stages: list[Stage], log_sink: LogSink) -> None:
        self.reader = RequestReader(runtime.adapter, runtime.cache.ignore)
        self.runtime = runtime
        self.stages = stages
        self.log_sink = log_sink
        self.in_flight = 0

    @property
    def runtime(self) -> ProxyRuntime:
        return self._runtime

    @runtime.setter
    def runtime(self, runtime: ProxyRuntime) -> None:
        """Replaced as a whole when the proxy's config changes; a new provider or new `ignore` paths read
        requests anew (the reader remembers keys)."""
        self._runtime = runtime
        if runtime.adapter is not self.reader.adapter or runtime.cache.ignore != self.reader.ignore:
            self.reader = RequestReader(runtime.adapter, runtime.cache.ignore)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        self.in_flight += 1
        try:
            exchange = await self._accept(scope, receive, send)
            if exchange is not None:
                await self._run(exchange, receive, send)
        finally:
            self.in_flight -= 1

    def error_reply(
        self, status: int, message: str, request: RefusedLine | None = None
    ) -> tuple[int, RawHeaders, bytes]:
        """An error in the provider's format, for the HTTP server's own answers (malformed HTTP,
        headers too large, a body over the limit or too slow). A refused `request` whose request
        line was read is logged like any other request.
        """
        kind = kind_for_status(status)
        reply = self.runtime.adapter.error(status, kind, message)
        if request is not None:
            method, path, client_ip = request
            now = time.perf_counter()
            self._log_refusal(method, path, client_ip, (now, time.time()), reply, f"{kind}: {message}", None)
        return reply.status, reply.headers, reply.body

    async def _accept(self, scope: Scope, receive: Receive, send: Send) -> Exchange | None:
        """Read and understand the request; answer malformed ones at once in the provider's format."""
        runtime = self.runtime
        started, received_at = time.perf_counter(), time.time()
        try:
            body = await _read_body(receive, runtime.max_request_bytes)
        except ClientGone:
            return None
        except BodyTooLarge:
            message = f"Request body exceeds the limit of {runtime.max_request_bytes} bytes."
            await self._refuse(scope, send, (started, received_at), 413, "request_too_large", message, None)
            return None
        headers = header_dict(scope["headers"])
        method, path, query = scope["method"], scope["path"], scope["query_string"].decode("latin-1")
        namespace = ""
        if NAMESPACE_HEADER in headers or path.startswith(NAMESPACE_PREFIX):
            try:
                namespace, path = split_namespace(path, headers)  # a /_ns/<name>/ prefix is not routed
            except NamespaceError as exc:
                times = (started, received_at)
                await self._refuse(scope, send, times, 400, "invalid_request", str(exc), None)
                return None
        problem = path_problem(path)  # NUL, control characters, `..` above the root: never forwarded
        if problem is not None:
            await self._refuse(scope, send, (started, received_at), 400, "invalid_request", problem, None)
            return None
        reading = self.reader.read(method, path, query, headers, body, namespace)
        if not reading.json_ok:
            route = reading.route_copy()
            await self._refuse(
                scope, send, (started, received_at), 400, "invalid_request", INVALID_JSON, route
            )
            return None
        view = RequestView(method, path, query, headers, body, reading.parsed)
        client = scope.get("client")
        exchange = Exchange(
            runtime.proxy_id, view, scope["headers"], client[0] if client else None, reading.route_copy()
        )
        exchange.cache_key = reading.cache_key
        exchange.namespace = namespace
        return exchange

    async def _refuse(
        self,
        scope: Scope,
        send: Send,
        times: tuple[float, float],
        status: int,
        kind: str,
        message: str,
        route: Route | None,
    ) -> None:
        """Answer a request the pipeline never sees, in the provider's format, and log it like any other."""
        reply = self.runtime.adapter.error(status, kind, message)
        client = scope.get("client")
        try:
            await send_simple(send, reply.status, reply.headers, reply.body, b"bypass")
        finally:
            client_ip = client[0] if client else None
            self._log_refusal(
                scope["method"], scope["path"], client_ip, times, reply, f"{kind}: {message}", route
            )

    def _log_refusal(
        self,
        method: str,
        path: str,
        client_ip: str | None,
        times: tuple[float, float],
        reply: ErrorReply,
        error: str,
        route: Route | None,
    ) -> None:
        """The row of a refused request: what is known without the body (path, operation, status, the
        error's kind), never the body or the query.
        """
        runtime = self.runtime
        view = RequestView(method, _printable(path), "", {}, b"", None)
        if route is None:
            try:  # the path alone often names the operation (and, e.g. for Bedrock, the model)
                route = runtime.adapter.route(view)
            except Exception:
                route = Route(view.path)
        exchange = Exchange(runtime.proxy_id, view, [], client_ip, route)
        exchange.started, exchange.received_at = times
        exchange.response = ProxyResponse(reply.status, reply.headers, body=reply.body)
        exchange.error = error
        exchange.finished = time.perf_counter()
        self.log_sink.append(log_row(exchange, runtime))

    async def _run(self, exchange: Exchange, receive: Receive, send: Send) -> None:
        runtime = self.runtime
        exchange.receive = receive
        try:
            for stage in self.stages:
                if stage.idle(runtime):  # cheaper than awaiting a stage that has nothing to do
                    continue
                await stage.before(exchange, runtime)
                if exchange.response is not None:
                    break
            response = exchange.response
            if response is None:  # no stage answered: a pipeline without a forward stage
                reply = runtime.adapter.error(502, "bad_gateway", "Rubberduck: no stage answered")
                response = exchange.response = ProxyResponse(reply.status, reply.headers, body=reply.body)
            await send_response(exchange, response, send, runtime.max_cached_response_bytes)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not exchange.client_gone or task is None:
                raise
            task.uncancel()  # our own cancel: the client hung up, so nobody is waiting for an answer
        except Exception as exc:
            logger.exception("proxy %s failed a request", runtime.proxy_id)
            exchange.error = f"{type(exc).__name__}: {exc}"
            if exchange.first_byte is None:
                reply = runtime.adapter.error(500, "server_error", "Rubberduck hit an internal error.")
                exchange.response = ProxyResponse(reply.status, reply.headers, body=reply.body)
                await send_response(exchange, exchange.response, send, 0)
        finally:
            exchange.stop_watching()
            exchange.finished = time.perf_counter()
        for callback in exchange.after:
            try:
                await callback()
            except Exception:
                logger.exception("a stage failed after a request")
        self.log_sink.append(log_row(exchange, runtime))


def _printable(path: str) -> str:
    """A path fit for a log row: control characters (a NUL breaks a Postgres text column) escaped."""
    if path.isprintable():
        return path
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in path)


async def _read_body(receive: Receive, limit: int) -> bytes:
    message = await receive()
    if message["type"] == "http.disconnect":
        raise ClientGone
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):  # the common case: the whole body in one message
        if len(body) > limit:
            raise BodyTooLarge
        return body
    parts = [body]
    size = len(body)
    while message.get("more_body", False):
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        parts.append(chunk)
    return b"".join(parts)
