"""The shared rate-limit window: exact across nodes under concurrency, same answers as the local one."""

from __future__ import annotations

import asyncio
import time

from rubberduck.cluster.link import RedisLink
from rubberduck.cluster.ratelimit import RedisWindowLimiter, SharedCharge, limit_fingerprint
from rubberduck.faults.ratelimit import WINDOW_SECONDS, TokenCharge
from tests.engines import RedisServer
from tests.unit.cluster.conftest import HOT_PATH_TIMEOUT, wait_until


async def test_two_nodes_admit_exactly_the_rpm_together_under_concurrency(
    link: RedisLink, other_link: RedisLink
) -> None:
    node_a = RedisWindowLimiter(link, 7, 10, None)
    node_b = RedisWindowLimiter(other_link, 7, 10, None)
    results = await asyncio.gather(*(limiter.acquire(10) for limiter in [node_a, node_b] * 25))
    admitted = [quota for quota, _ in results if quota.allowed]
    refused = [quota for quota, _ in results if not quota.allowed]
    assert len(admitted) == 10 and len(refused) == 40
    assert sorted(quota.remaining_requests for quota in admitted) == list(range(10))
    assert all(charge is None for quota, charge in results if not quota.allowed)
    for quota in refused:
        assert quota.reason == "requests per minute" and quota.remaining_requests == 0
        assert quota.limit_requests == 10 and quota.limit_tokens is None and quota.remaining_tokens is None
        assert WINDOW_SECONDS - 2 < quota.retry_after_s <= WINDOW_SECONDS
        assert quota.reset_requests_s == quota.retry_after_s
    # The local fallbacks were never used: the shared window answered every call.
    assert node_a.local.peek().remaining_requests == 10 and node_b.local.peek().remaining_requests == 10
    assert (await node_b.peek()).remaining_requests == 0


async def test_resets_and_retry_after_come_from_the_shared_window(
    link: RedisLink, other_link: RedisLink
) -> None:
    node_a = RedisWindowLimiter(link, 8, 2, None)
    node_b = RedisWindowLimiter(other_link, 8, 2, None)
    first, _ = await node_a.acquire(1)
    assert first.allowed and first.remaining_requests == 1
    assert first.reset_requests_s == WINDOW_SECONDS  # an empty window resets a full minute from now
    await asyncio.sleep(1.0)
    second, _ = await node_b.acquire(1)
    assert second.allowed and second.remaining_requests == 0
    assert WINDOW_SECONDS - 1.5 < second.reset_requests_s < WINDOW_SECONDS - 0.9  # A's request, 1 s old
    refused, _ = await node_b.acquire(1)
    assert not refused.allowed and refused.reason == "requests per minute"
    assert WINDOW_SECONDS - 1.5 < refused.retry_after_s < WINDOW_SECONDS - 0.9
    peeked = await node_a.peek()
    assert peeked.allowed and peeked.remaining_requests == 0
    assert abs(peeked.reset_requests_s - refused.reset_requests_s) < 0.5


async def test_tokens_per_minute_with_the_real_usage_corrected_across_nodes(
    link: RedisLink, other_link: RedisLink
) -> None:
    node_a = RedisWindowLimiter(link, 9, None, 1000)
    node_b = RedisWindowLimiter(other_link, 9, None, 1000)
    quota, charge = await node_a.acquire(25)
    assert quota.allowed and quota.remaining_tokens == 975 and quota.limit_tokens == 1000
    assert isinstance(charge, SharedCharge)
    node_a.correct(charge, 1100)
    await node_a.settle()
    assert charge.tokens == 1100
    refused, no_charge = await node_b.acquire(25)
    assert not refused.allowed and no_charge is None
    assert refused.reason == "tokens per minute" and refused.remaining_tokens == 0
    assert WINDOW_SECONDS - 2 < refused.retry_after_s <= WINDOW_SECONDS
    node_a.correct(charge, 100)  # corrected again, smaller: room for 900 more
    await node_a.settle()
    assert (await node_b.peek()).remaining_tokens == 900
    allowed, _ = await node_b.acquire(900)
    assert allowed.allowed and allowed.remaining_tokens == 0
    over, _ = await node_a.acquire(1)
    assert not over.allowed and over.reason == "tokens per minute"


async def test_a_first_request_bigger_than_the_tpm_passes_as_locally(link: RedisLink) -> None:
    limiter = RedisWindowLimiter(link, 10, None, 100)
    quota, _ = await limiter.acquire(500)  # an empty window admits any one request
    assert quota.allowed and quota.remaining_tokens == 0
    assert not (await limiter.acquire(1))[0].allowed


async def test_each_proxy_and_each_limit_has_its_own_window_that_expires_when_idle(link: RedisLink) -> None:
    assert limit_fingerprint(10, None) != limit_fingerprint(None, 10) != limit_fingerprint(11, None)
    one = RedisWindowLimiter(link, 11, 1, None)
    assert (await one.acquire(1))[0].allowed
    assert not (await one.acquire(1))[0].allowed
    assert (await RedisWindowLimiter(link, 12, 1, None).acquire(1))[0].allowed  # another proxy
    assert (await RedisWindowLimiter(link, 11, 2, None).acquire(1))[0].allowed  # a new limit
    keys = sorted(key.decode() for key in await link.client.keys("rd:rl:11:*"))
    assert keys == [
        f"rd:rl:11:{name}:{part}" for name in ("r1t-", "r2t-") for part in ("req", "size", "sum", "tok")
    ]
    for key in keys:
        assert 60_000 < await link.client.pttl(key) <= 61_000


async def test_redis_down_fails_open_to_the_local_window_fast_and_shared_again_after(
    outage_server: RedisServer,
) -> None:
    link = RedisLink(outage_server.url, HOT_PATH_TIMEOUT, "node-a")
    await link.start()
    try:
        limiter = RedisWindowLimiter(link, 13, 1, None)
        assert (await limiter.acquire(1))[0].allowed
        outage_server.stop()
        started = time.monotonic()
        quota, charge = await limiter.acquire(1)  # the shared window is full, but unreachable
        assert time.monotonic() - started < 0.3
        assert quota.allowed and type(charge) is TokenCharge  # the local window answered
        limiter.correct(charge, 7)  # a local charge is corrected locally, at once
        assert charge.tokens == 7
        started = time.monotonic()
        refused, _ = await limiter.acquire(1)  # the local window limits on its own: 1 per minute
        peeked = await limiter.peek()
        assert time.monotonic() - started < 0.05
        assert not refused.allowed and refused.reason == "requests per minute"
        assert peeked.remaining_requests == 0
        outage_server.resume()
        await wait_until(lambda: link.healthy)
        # A fresh server lost the window; the shared one counts again from here.
        assert (await limiter.acquire(1))[0].allowed
        assert not (await limiter.acquire(1))[0].allowed
        assert await link.client.zcard("rd:rl:13:r1t-:req") == 1
    finally:
        await link.aclose()
