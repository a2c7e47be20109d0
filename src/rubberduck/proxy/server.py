"""One proxy instance = one HTTP server on its own socket, inside the process's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket

from rubberduck.proxy.asgi import ProxyApp
from rubberduck.proxy.http11 import HttpConnection, ServerState

KEEP_ALIVE_SECONDS = 30.0


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind now so a port conflict is reported to the caller as an OSError, not logged and lost."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


class ProxyServer:
    def __init__(self, app: ProxyApp, host: str, port: int, graceful_seconds: float) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.graceful_seconds = graceful_seconds
        self.state = ServerState(app, app.error_reply, KEEP_ALIVE_SECONDS)
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        sock = bind_socket(self.host, self.port)
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(lambda: HttpConnection(self.state), sock=sock)
        except BaseException:
            sock.close()
            raise
        self._sweeper = asyncio.create_task(self._close_idle_connections(), name=f"proxy:{self.port}:idle")

    @property
    def running(self) -> bool:
        return self._server is not None and self._server.is_serving()

    async def stop(self, force: bool = False) -> None:
        """Graceful: stop accepting, let in-flight requests finish (bounded). Force: drop them now."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
        state = self.state
        if not force:
            for connection in list(state.connections):
                connection.shutdown()
            deadline = asyncio.get_running_loop().time() + self.graceful_seconds
            if state.tasks:
                await asyncio.wait(list(state.tasks), timeout=self.graceful_seconds)
            # Each connection closes itself once its response is out; a slow reader may still have
            # part of it in the transport's buffer, so wait for the closes before aborting anyone.
            remaining = deadline - asyncio.get_running_loop().time()
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

    async def _close_idle_connections(self) -> None:
        """Keep-alive connections idle longer than the limit are closed: one timer per server."""
        loop = asyncio.get_running_loop()
        limit = self.state.keep_alive_seconds
        while True:
            await asyncio.sleep(min(limit / 4, 5.0))
            now = loop.time()
            for connection in list(self.state.connections):
                if connection.idle_for(now) > limit:
                    connection.transport.close()
