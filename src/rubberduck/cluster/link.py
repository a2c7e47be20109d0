"""One connection pool to Redis with uniform failure behaviour: a bounded wait, then a circuit breaker.

Redis holds what nodes share, but none of it is worth a hanging request: every call runs under a
timeout (50 ms by default on the proxy hot path) and answers a caller-chosen fallback when Redis is
slow, down or erroring. After a failure the link stays "down" and answers the fallback at once, without
trying, so a dead Redis costs nothing per request; a background ping every 0.25 s notices its return,
closes the breaker and runs the `on_reconnect` callbacks (which repair what was missed meanwhile).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

logger = logging.getLogger("rubberduck.cluster")

T = TypeVar("T")

BREAK_SECONDS = 0.5  # how long a failure keeps the breaker open without a new attempt
PING_SECONDS = 0.25  # how often a down link checks whether Redis is back
PING_TIMEOUT = 0.5  # a ping is off the hot path: Redis may be slow without being down
START_TIMEOUT = 2.0


def describe(error: BaseException, timeout: float | None = None) -> str:
    """A short reason for /healthz and the log (redis-py's messages name host:port, never a password)."""
    if isinstance(error, TimeoutError) and timeout is not None:
        return f"no answer within {round(timeout * 1000)} ms"
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


async def stop_task(task: asyncio.Task[None]) -> None:
    """Cancel a background task and wait until it has ended, cancelling again if a library it was
    awaiting swallowed the first cancellation (a task left running would keep a dead node alive)."""
    while not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=0.5)
    if not task.cancelled() and task.exception() is not None:
        logger.warning("a Redis background task had failed", exc_info=task.exception())


class RedisLink:
    """The node's Redis client and its health; `run` is how every module reaches Redis."""

    def __init__(self, url: str, timeout: float, node: str) -> None:
        self.url = url
        self.timeout = timeout
        self.node = node
        # No retries inside redis-py: its default (10 tries with backoff) would turn one dead Redis into
        # seconds of waiting; the breaker and the ping loop are our retry policy. No socket timeout
        # either: every call is bounded by `run`'s own timeout, and blocking reads (BLPOP, pub/sub)
        # choose their own bound.
        self.client: Redis = Redis.from_url(
            url,
            decode_responses=False,
            retry=Retry(NoBackoff(), 0),
            socket_timeout=None,
            socket_connect_timeout=START_TIMEOUT,
        )
        self.on_reconnect: list[Callable[[], Awaitable[None]]] = []
        self._healthy = True
        self._reason: str | None = None
        self._open_until = 0.0
        self._watcher: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def healthy(self) -> bool:
        return self._healthy

    @property
    def reason(self) -> str | None:
        """Why the link is down (for /healthz `degraded`), None while healthy."""
        return self._reason

    async def start(self) -> None:
        """Check Redis once; a node whose Redis is down still starts (degraded) and heals when it returns."""
        try:
            async with asyncio.timeout(START_TIMEOUT):
                await self.client.ping()
        except Exception as error:
            self.mark_down(describe(error, START_TIMEOUT))

    async def run(self, op: Callable[[Redis], Awaitable[T]], fallback: T, timeout: float | None = None) -> T:
        """`op(client)` within `timeout` (default: the hot-path timeout), else `fallback`.

        A caller off the hot path (the API, a fence) may pass a longer timeout.
        """
        if not self._healthy and time.monotonic() < self._open_until:
            return fallback
        bound = self.timeout if timeout is None else timeout
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a cancellation that arrives as the
            # operation completes, and a cancelled request (or task) must stop.
            async with asyncio.timeout(bound):
                return await op(self.client)
        except Exception as error:  # CancelledError (the caller went away) is not one: it propagates
            self.mark_down(describe(error, bound))
            return fallback

    def mark_down(self, reason: str) -> None:
        """Open the breaker (also used by the bus when its subscription breaks) and watch for recovery."""
        if self._closed:
            return
        if self._healthy:
            logger.warning("Redis unavailable, carrying on without it: %s", reason)
        self._healthy = False
        self._reason = reason
        self._open_until = time.monotonic() + BREAK_SECONDS
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        while not self._closed:
            await asyncio.sleep(PING_SECONDS)
            try:
                async with asyncio.timeout(max(self.timeout, PING_TIMEOUT)):
                    await self.client.ping()
            except Exception as error:
                # Still down: keep the breaker open, so requests keep skipping Redis entirely.
                self._reason = describe(error, max(self.timeout, PING_TIMEOUT))
                self._open_until = time.monotonic() + BREAK_SECONDS
                continue
            self._healthy, self._reason, self._open_until = True, None, 0.0
            logger.warning("Redis is back")
            self._watcher = None  # a failure during the callbacks starts a new watcher
            for callback in list(self.on_reconnect):
                try:
                    await callback()
                except Exception:
                    logger.exception("a Redis reconnect callback failed")
            return

    async def aclose(self) -> None:
        self._closed = True
        if self._watcher is not None:
            await stop_task(self._watcher)
            self._watcher = None
        await self.client.aclose()
