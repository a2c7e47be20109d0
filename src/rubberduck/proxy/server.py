"""One proxy instance = one HTTP server on its own socket, inside the process's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from typing import TYPE_CHECKING

from rubberduck.proxy.asgi import ProxyApp
from rubberduck.proxy.http11 import HttpConnection, ServerState
from rubberduck.proxy.http_limits import ServerLimits

if TYPE_CHECKING:
    from rubberduck.settings import Settings

KEEP_ALIVE_SECONDS = 30.0
MAX_SWEEP_SECONDS = 5.0  # the sweep's period: a limit is enforced within this much of its time
MIN_SWEEP_SECONDS = 0.02


def limits_from(settings: Settings) -> ServerLimits:
    """The bounds a proxy port puts on one request, from the server's settings."""
    return ServerLimits(
        max_head_bytes=settings.max_request_header_bytes,
        max_body_bytes=settings.max_request_bytes,
        body_idle_seconds=settings.request_body_idle_seconds,
        body_total_seconds=settings.request_body_timeout_seconds,
    )


def describe_bind_error(exc: OSError, host: str, port: int) -> str:
    """Why a proxy port could not be opened, in words a user can act on."""
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} is already in use on {host} (by another program or proxy)"
    if exc.errno == errno.EACCES:
        return f"no permission to listen on {host}:{port}"
    reason = " ".join((exc.strerror or str(exc)).split())
    return f"cannot listen on {host}:{port}: {reason}"


def bind_socket(host: str, port: int, *, reuse_port: bool = False, listen: bool = True) -> socket.socket:
    """Bind now so a port conflict is reported to the caller as an OSError, not logged and lost.

    `reuse_port`: one of the `serve --workers` processes, which all listen on the same port (the kernel
    spreads new connections among them). Only sockets that set it may share, so a port held by
    anything else is still reported in use. `listen=False` leaves the listen to whoever serves on the
    socket: a bound socket that does not listen yet is given no connections.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        if listen:
            sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


class ProxyServer:
    def __init__(
        self,
        app: ProxyApp,
        host: str,
        port: int,
        graceful_seconds: float,
        limits: ServerLimits | None = None,
        reuse_port: bool = False,
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.reuse_port = reuse_port  # settings.reuse_port: this port is shared with the other workers
        self.graceful_seconds = graceful_seconds
        self.state = ServerState(app, app.error_reply, KEEP_ALIVE_SECONDS, limits)
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        sock = bind_socket(self.host, self.port, reuse_port=self.reuse_port)
        self.port = sock.getsockname()[1]  # the one the system picked, when asked for port 0
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(lambda: HttpConnection(self.state), sock=sock)
        except BaseException:
            sock.close()
            raise
        self._sweeper = asyncio.create_task(self._sweep(), name=f"proxy:{self.port}:sweep")

    @property
    def running(self) -> bool:
        return self._server is not None and self._server.is_serving()

    async def stop(self, force: bool = False, deadline: float | None = None) -> None:
        """Graceful: stop accepting, let in-flight requests finish (bounded). Force: drop them now.

        `deadline` (the loop's clock) bounds a graceful stop; by default `graceful_seconds` from now.
        Several servers stopped together share one deadline, so N stuck proxies cost one wait, not N.
        """
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
        state = self.state
        if not force:
            loop = asyncio.get_running_loop()
            for connection in list(state.connections):
                connection.shutdown()
            if deadline is None:
                deadline = loop.time() + self.graceful_seconds
            if state.tasks and deadline > loop.time():
                await asyncio.wait(list(state.tasks), timeout=deadline - loop.time())
            # Each connection closes itself once its response is out; a slow reader may still have
            # part of it in the transport's buffer, so wait for the closes before aborting anyone.
            remaining = deadline - loop.time()
            if state.connections and remaining > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(state.all_closed.wait(), remaining)
        for connection in list(state.connections):
            connection.transport.abort()
        tasks = list(state.tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), timeout=5)

    async def _sweep(self) -> None:
        """One timer per server, never one per request: keep-alive connections idle longer than the
        limit are closed, and request bodies that stall or drag past their timeouts get a 408."""
        loop = asyncio.get_running_loop()
        state = self.state
        limit = state.keep_alive_seconds
        limits = state.limits
        shortest = min(limit, limits.body_idle_seconds, limits.body_total_seconds)
        period = max(MIN_SWEEP_SECONDS, min(shortest / 4, MAX_SWEEP_SECONDS))
        while True:
            await asyncio.sleep(period)
            now = loop.time()
            for connection in list(state.connections):
                if connection.idle_for(now) > limit:
                    connection.transport.close()
                else:
                    connection.check_body(now)
