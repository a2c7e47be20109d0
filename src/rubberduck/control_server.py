"""The control plane's uvicorn server (imported only by `rubberduck serve`: uvicorn is not cheap to load)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from types import FrameType

import uvicorn


class ControlPlaneServer(uvicorn.Server):
    """uvicorn's server, which also ends the live log streams when told to stop.

    uvicorn waits for every open connection before the app's shutdown runs, and a live stream never
    ends by itself: one open browser tab would hold SIGTERM forever. Whatever else is still running
    on the control plane after `graceful_seconds` is cancelled; the proxies then stop, together,
    under one more such deadline (ProxyManager.shutdown).
    """

    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], None], graceful_seconds: float) -> None:
        config.timeout_graceful_shutdown = max(1, round(graceful_seconds))
        super().__init__(config)
        self.on_exit = on_exit

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        with contextlib.suppress(RuntimeError):  # no loop running (yet): nothing is streaming
            asyncio.get_running_loop().call_soon_threadsafe(self.on_exit)
