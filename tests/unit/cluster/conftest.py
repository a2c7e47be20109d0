"""A real redis-server for the cluster modules: one per test session, and one per test for outages."""

from __future__ import annotations

import asyncio
import inspect
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest

from rubberduck.cluster.link import RedisLink
from tests.engines import RedisServer

if shutil.which("redis-server") is None:
    pytest.skip("redis-server (Debian package) is not installed: make engines", allow_module_level=True)

HOT_PATH_TIMEOUT = 0.05  # settings.redis_timeout_seconds' default
# Tests of what Redis computes (not of its timeouts) give it room: the machine is shared and loaded, and
# a call timing out would fall back to the in-process answer and hide what the test checks.
ROOMY_TIMEOUT = 2.0


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.destroy()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    redis_server.flush()
    return redis_server.url


@pytest.fixture
def outage_server() -> Iterator[RedisServer]:
    """A server of the test's own, which it may stop and resume without disturbing the others."""
    server = RedisServer().start()
    yield server
    server.destroy()


@pytest.fixture
async def link(redis_url: str) -> AsyncIterator[RedisLink]:
    link = RedisLink(redis_url, ROOMY_TIMEOUT, "node-a")
    await link.start()
    yield link
    await link.aclose()


@pytest.fixture
async def other_link(redis_url: str) -> AsyncIterator[RedisLink]:
    """A second node's connection to the same Redis."""
    link = RedisLink(redis_url, ROOMY_TIMEOUT, "node-b")
    await link.start()
    yield link
    await link.aclose()


async def wait_until(condition: Callable[[], bool | Awaitable[bool]], timeout: float = 3.0) -> float:
    """Poll until the condition holds; the seconds it took (fails the test past `timeout`)."""
    started = time.monotonic()
    while True:
        held = condition()
        if inspect.isawaitable(held):
            held = await held
        if held:
            return time.monotonic() - started
        assert time.monotonic() - started < timeout, "timed out"
        await asyncio.sleep(0.02)
