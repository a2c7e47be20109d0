"""The bare app again, on the proxy ports' own HTTP server: the same-server baseline.

python -m bench.bare_http11 PORT
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import uvloop

from bench.bare_app import app
from rubberduck.proxy.server import ProxyServer
from rubberduck.types import RawHeaders


class BareApp:
    """The bare ASGI app plus the error hook the proxy server asks every app for."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await app(scope, receive, send)

    def error_reply(self, status: int, message: str) -> tuple[int, RawHeaders, bytes]:
        return status, [(b"content-type", b"text/plain")], message.encode()


async def serve(port: int) -> None:
    server = ProxyServer(BareApp(), "127.0.0.1", port, graceful_seconds=1)  # type: ignore[arg-type]
    await server.start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    uvloop.run(serve(int(sys.argv[1])))
