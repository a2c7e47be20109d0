"""The SQLite log insert, in a process of its own.

In the server's process the insert ran in aiosqlite's thread, which needs the GIL to bind every value:
under load it kept stalling the event loop that serves every proxy, and could not keep up with it.
A child process binds and writes with its own interpreter; the server only sends each batch, already
flat, through a pipe (from a worker thread, so the event loop never blocks on the pipe).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import pickle
import signal
import sqlite3
import threading
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from rubberduck.telemetry.sqlite_rows import chunk_rows, insert_statements

logger = logging.getLogger("rubberduck.logs")

_OK = b"ok"
_STOP = b"stop"


class LogWriteError(Exception):
    """The writer process could not write a batch (the message says why); the batch may be retried."""


def serve(database_path: str, busy_timeout_seconds: float, connection: Connection) -> None:
    """The child's loop: one batch in, one transaction, one answer out, until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent decides
    database = sqlite3.connect(database_path, timeout=busy_timeout_seconds, isolation_level=None)
    database.execute("PRAGMA journal_mode=WAL")
    database.execute("PRAGMA synchronous=NORMAL")
    chunk = chunk_rows()
    try:
        while True:
            try:
                message = connection.recv_bytes()
            except EOFError:  # the server is gone
                return
            if message == _STOP:
                connection.send_bytes(_OK)
                return
            values: tuple[Any, ...] = pickle.loads(message)
            try:
                database.execute("BEGIN IMMEDIATE")
                for statement, parameters in insert_statements(values, chunk):
                    database.execute(statement, parameters)
                database.execute("COMMIT")
            except Exception as exc:
                with contextlib.suppress(sqlite3.Error):
                    database.execute("ROLLBACK")
                connection.send_bytes(f"{type(exc).__name__}: {exc}".encode())
                continue
            connection.send_bytes(_OK)
    finally:
        database.close()


class SqliteWriterProcess:
    """The server's handle on the writer process: started on first use, restarted if it died."""

    def __init__(self, database_path: str, busy_timeout_seconds: float = 30.0) -> None:
        self.database_path = database_path
        self.busy_timeout_seconds = busy_timeout_seconds
        self._process: BaseProcess | None = None
        self._pipe: Connection | None = None
        self._lock = threading.Lock()  # one batch in flight: answers come back in order

    async def insert(self, values: tuple[Any, ...]) -> None:
        """Write flat row values (sqlite_rows.sqlite_values) in one transaction, or raise LogWriteError."""
        payload = pickle.dumps(values, protocol=pickle.HIGHEST_PROTOCOL)
        answer = await asyncio.to_thread(self._round_trip, payload)
        if answer != _OK:
            raise LogWriteError(answer.decode(errors="replace"))

    def _round_trip(self, payload: bytes) -> bytes:
        with self._lock:
            pipe = self._running()
            try:
                pipe.send_bytes(payload)
                return pipe.recv_bytes()
            except (EOFError, OSError) as exc:  # it died mid-batch: the next attempt starts a new one
                self._discard()
                raise LogWriteError(f"the log writer process stopped ({type(exc).__name__})") from None

    def _running(self) -> Connection:
        if self._process is not None and self._pipe is not None and self._process.is_alive():
            return self._pipe
        self._discard()
        context = multiprocessing.get_context("spawn")  # no fork of a threaded, event-looped process
        parent, child = context.Pipe()
        process = context.Process(
            target=serve,
            args=(self.database_path, self.busy_timeout_seconds, child),
            name="rubberduck-log-writer",
            daemon=True,
        )
        process.start()
        child.close()
        self._process, self._pipe = process, parent
        return parent

    def _discard(self) -> None:
        if self._pipe is not None:
            self._pipe.close()
        if self._process is not None and self._process.is_alive():
            self._process.kill()
        self._process = self._pipe = None

    async def stop(self) -> None:
        await asyncio.to_thread(self._stop)

    def _stop(self) -> None:
        with self._lock:
            process, pipe = self._process, self._pipe
            if process is None or pipe is None:
                return
            with contextlib.suppress(EOFError, OSError):
                pipe.send_bytes(_STOP)
                pipe.recv_bytes()
            process.join(timeout=10)
            self._discard()
