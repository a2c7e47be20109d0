"""The control plane's uvicorn server, and the parent of `serve --workers N`.

Imported only by `rubberduck serve`: uvicorn is not cheap to load.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from types import FrameType

import uvicorn

logger = logging.getLogger("rubberduck.workers")

FORWARDED = frozenset({signal.SIGINT, signal.SIGTERM})
# How a worker ends when it was passed a stop signal: uvicorn re-raises SIGTERM after its graceful
# shutdown (the default action then ends the process) and SIGINT as a KeyboardInterrupt (exit 130).
STOPPED_AS_ASKED = frozenset({0, 128 + signal.SIGINT, 128 + signal.SIGTERM, -signal.SIGINT, -signal.SIGTERM})
PR_SET_PDEATHSIG = 1  # linux/prctl.h


class ControlPlaneServer(uvicorn.Server):
    """uvicorn's server, which also ends the live log streams when told to stop.

    uvicorn waits for every open connection before the app's shutdown runs, and a live stream never
    ends by itself: one open browser tab would hold SIGTERM forever. Whatever else is still running
    on the control plane after `graceful_seconds` is cancelled; the proxies then stop, together,
    under one more such deadline (ProxyManager.shutdown).
    """

    def __init__(
        self,
        config: uvicorn.Config,
        on_exit: Callable[[], None],
        graceful_seconds: float,
        ready_fd: int | None = None,
    ) -> None:
        config.timeout_graceful_shutdown = max(1, round(graceful_seconds))
        super().__init__(config)
        self.on_exit = on_exit
        self.ready_fd = ready_fd  # `serve --workers`: told once this worker serves (WorkerSupervisor)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self.ready_fd is not None:
            with contextlib.suppress(OSError):  # a parent gone meanwhile has sent us SIGTERM already
                os.write(self.ready_fd, b".")
            os.close(self.ready_fd)
            self.ready_fd = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        with contextlib.suppress(RuntimeError):  # no loop running (yet): nothing is streaming
            asyncio.get_running_loop().call_soon_threadsafe(self.on_exit)


class WorkerSupervisor:
    """`serve --workers N`: N `serve` processes sharing the control and proxy ports (SO_REUSEPORT).

    The parent serves nothing. It starts one worker and waits until that one serves (it says so on a
    pipe: a connection to the port could be answered by whatever else holds it), so the migrations,
    the first secret and the restored proxies' statuses are written by one process while the database
    may still be empty; then it starts the others. SIGINT and SIGTERM are passed on (the workers
    have their own process group, so a terminal's Ctrl+C reaches them once, through here). A worker that dies is reported, not restarted: the others keep serving. `run` returns
    once every worker has exited: 0 when each stopped because it was told to, else 1.
    """

    def __init__(self, command: list[str], env: dict[str, str], count: int) -> None:
        self.command = command
        self.env = env
        self.count = count
        self.children: dict[int, subprocess.Popen[bytes]] = {}
        self.stop_signal: int | None = None
        self.failed = False
        self._child_setup = _child_setup()

    def run(self) -> int:
        for sig in FORWARDED:
            signal.signal(sig, self._forward)
        if self._first_ready():
            for number in range(2, self.count + 1):
                self._spawn(number)
        while self.children:
            pid, status = os.wait()  # a signal runs _forward, then the wait carries on (PEP 475)
            self._exited(pid, status)
        if not self.failed:
            logger.info("all %d workers stopped", self.count)
        return 1 if self.failed else 0

    def _spawn(self, number: int, ready_fd: int | None = None) -> subprocess.Popen[bytes]:
        env = dict(self.env)
        command = self.command if ready_fd is None else [*self.command, "--ready-fd", str(ready_fd)]
        if env.get("RUBBERDUCK_NODE_NAME"):  # one name for all would make the workers one node
            env["RUBBERDUCK_NODE_NAME"] = f"{env['RUBBERDUCK_NODE_NAME']}-{number}"
        # Held while the child is started and registered: a stop arriving meanwhile reaches it too.
        with _signals_held():
            process = subprocess.Popen(
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                pass_fds=() if ready_fd is None else (ready_fd,),
                process_group=0,
                preexec_fn=self._child_setup,  # safe: this process runs no threads
            )
            self.children[process.pid] = process
            if self.stop_signal is not None:
                _send(process, self.stop_signal)
        logger.info("worker %d of %d started (pid %d)", number, self.count, process.pid)
        return process

    def _first_ready(self) -> bool:
        """Start the first worker; True once it serves, False if it exited first (or was stopped)."""
        reader, writer = os.pipe()
        try:
            self._spawn(1, writer)
        finally:
            os.close(writer)  # the worker holds the only other end: its exit is our end of file
        with open(reader, "rb", buffering=0) as pipe:
            told = pipe.read(1)  # a signal runs _forward, then the read carries on (PEP 475)
        return told == b"." and self.stop_signal is None

    def _forward(self, sig: int, frame: FrameType | None) -> None:
        self.stop_signal = sig
        for process in list(self.children.values()):
            _send(process, sig)

    def _exited(self, pid: int, status: int) -> None:
        process = self.children.pop(pid, None)
        if process is None:
            return
        code = process.returncode = os.waitstatus_to_exitcode(status)
        if self.stop_signal is not None and code in STOPPED_AS_ASKED:
            return
        self.failed = True
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with status {code}"
        logger.error("worker (pid %d) %s; %d still running", pid, how, len(self.children))


def _send(process: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, sig)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)


def _child_setup() -> Callable[[], None]:
    """What a worker runs between fork and exec: take the stop signals again (the mask is inherited),
    and on Linux be sent SIGTERM if the parent dies (killed outright, it could not pass one on)."""
    prctl = None
    if sys.platform == "linux":
        with contextlib.suppress(OSError, AttributeError):
            prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: nothing to load after fork

    def setup() -> None:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, signal.SIGTERM)

    return setup
