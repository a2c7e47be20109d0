"""RedisLink: a dead Redis costs one bounded timeout, then nothing; a returning one is noticed by itself."""

from __future__ import annotations

import asyncio
import time

from redis.asyncio import Redis

from rubberduck.cluster.link import RedisLink
from tests.engines import RedisServer
from tests.unit.cluster.conftest import HOT_PATH_TIMEOUT, wait_until


async def echo(client: Redis) -> bytes:
    await client.set("rd:test:echo", b"here")
    value = await client.get("rd:test:echo")
    assert value is not None
    return bytes(value)


async def test_a_call_answers_from_redis_while_it_is_up(link: RedisLink) -> None:
    assert await link.run(echo, b"fallback") == b"here"
    assert link.healthy and link.reason is None


async def test_a_stopped_redis_costs_one_timeout_then_nothing_and_is_noticed_when_back(
    outage_server: RedisServer,
) -> None:
    link = RedisLink(outage_server.url, HOT_PATH_TIMEOUT, "node-a")
    reconnects: list[float] = []

    async def reconnected() -> None:
        reconnects.append(time.monotonic())

    link.on_reconnect.append(reconnected)
    await link.start()
    try:
        assert await link.run(echo, b"fallback") == b"here"
        outage_server.stop()

        started = time.monotonic()
        assert await link.run(echo, b"fallback") == b"fallback"
        assert time.monotonic() - started < 0.3  # the first call: about the 50 ms timeout, at most
        assert not link.healthy and link.reason

        started = time.monotonic()
        for _ in range(100):  # breaker open: no attempt at all
            assert await link.run(echo, b"fallback") == b"fallback"
        assert time.monotonic() - started < 0.05

        await asyncio.sleep(1.0)  # still down: the pings keep the breaker open
        started = time.monotonic()
        assert await link.run(echo, b"fallback") == b"fallback"
        assert time.monotonic() - started < 0.05
        assert reconnects == []

        outage_server.resume()
        resumed = time.monotonic()
        assert await wait_until(lambda: link.healthy) < 1.5
        assert link.reason is None
        assert len(reconnects) == 1 and reconnects[0] - resumed < 1.5
        assert await link.run(echo, b"fallback") == b"here"
    finally:
        await link.aclose()


async def test_a_node_starts_with_redis_down_and_heals_when_it_comes(outage_server: RedisServer) -> None:
    outage_server.stop()
    link = RedisLink(outage_server.url, HOT_PATH_TIMEOUT, "node-a")
    started = time.monotonic()
    await link.start()
    assert time.monotonic() - started < 2.5
    try:
        assert not link.healthy and link.reason
        assert await link.run(echo, b"fallback") == b"fallback"
        outage_server.resume()
        await wait_until(lambda: link.healthy)
        assert await link.run(echo, b"fallback") == b"here"
    finally:
        await link.aclose()


async def test_a_slow_answer_is_abandoned_at_the_timeout(link: RedisLink) -> None:
    async def slow(client: Redis) -> bytes:
        await client.blpop(["rd:test:never"], timeout=0.3)  # answers after 0.3 s
        return b"late"

    started = time.monotonic()
    assert await link.run(slow, b"fallback", timeout=HOT_PATH_TIMEOUT) == b"fallback"
    assert time.monotonic() - started < 0.25
    assert link.reason == "no answer within 50 ms"
    await wait_until(lambda: link.healthy)  # the server was only slow: the next ping closes the breaker
    assert await link.run(echo, b"fallback") == b"here"
