"""One proxy instance = one uvicorn server on its own socket, inside the process's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Generator

import uvicorn

from rubberduck.proxy.asgi import ProxyApp


class _DeliberateCutFilter(logging.Filter):
    """A simulated stream cut ends the response early on purpose; uvicorn would log it as an error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "ASGI callable returned without completing response."


logging.getLogger("uvicorn.error").addFilter(_DeliberateCutFilter())


class _EmbeddedServer(uvicorn.Server):
    # The control plane owns the process's signals; an embedded proxy must not take them over.
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


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
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        sock = bind_socket(self.host, self.port)
        config = uvicorn.Config(
            self.app,
            lifespan="off",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=int(self.graceful_seconds),
            timeout_keep_alive=30,
            # The client IP is the socket's: X-Forwarded-For must not fool the IP filters.
            proxy_headers=False,
            # Only the upstream's own Server header goes back, as the provider sent it.
            server_header=False,
        )
        self._server = _EmbeddedServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name=f"proxy:{self.port}")
        while not self._server.started:
            if self._task.done():
                self._task.result()  # re-raises the start-up failure
                raise OSError(f"proxy on port {self.port} stopped while starting")
            await asyncio.sleep(0.01)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def stop(self, force: bool = False) -> None:
        """Graceful: stop accepting, let in-flight requests finish (bounded). Force: drop them now."""
        server, task = self._server, self._task
        if server is None or task is None:
            return
        server.should_exit = True
        if force:
            server.force_exit = True
            for connection in list(server.server_state.connections):
                transport = getattr(connection, "transport", None)
                if transport is not None:
                    transport.abort()
            for pending in list(server.server_state.tasks):
                pending.cancel()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=self.graceful_seconds + 5)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._server = None
        self._task = None
