"""The failure-simulation stages, in pipeline order: IP filter, rate limit, faults."""

from __future__ import annotations

import asyncio
import inspect
from functools import partial
from typing import Any

from rubberduck.faults.config import IPLists
from rubberduck.faults.ipmatch import NO_FILTER, IPFilter
from rubberduck.faults.ratelimit import Quota, estimate_tokens, refusal_quota
from rubberduck.providers.base import kind_for_status
from rubberduck.proxy.exchange import Exchange, ProxyResponse, StreamFault
from rubberduck.proxy.runtime import ProxyRuntime

FAULT_HEADER = "x-rubberduck-fault"
DEFAULT_RETRY_AFTER_S = 1.0


async def _maybe_await(value: Any) -> Any:
    """The in-process limiter answers at once; the shared one (Redis) is awaited."""
    return await value if inspect.isawaitable(value) else value


async def simulated_error(
    exchange: Exchange,
    runtime: ProxyRuntime,
    status: int,
    message: str,
    retry_after: float | None,
    quota: Quota | None = None,
) -> None:
    """The provider's own error; a 429 also carries its rate-limit headers, as a real one does.

    `quota` is the rate limiter's refusal; without it a 429 reports the limiter's window as it stands.
    """
    reply = runtime.adapter.error(status, kind_for_status(status), message, retry_after)
    headers = reply.headers
    if status == 429:
        limiter = runtime.faults.limiter
        if quota is None and limiter is not None:
            quota = await _maybe_await(limiter.peek())
        retry = retry_after if retry_after is not None else DEFAULT_RETRY_AFTER_S
        headers = headers + runtime.adapter.rate_limit_headers(refusal_quota(quota, retry))
    exchange.response = ProxyResponse(reply.status, headers, body=reply.body)


class GlobalIPFilter:
    """The superuser's allow/block lists for every proxy; one shared, replaceable value."""

    def __init__(self) -> None:
        self.lists = IPLists()
        self.current: IPFilter = NO_FILTER

    def replace(self, lists: IPLists) -> None:
        self.lists = lists
        self.current = IPFilter.build(lists.ip_allow, lists.ip_block)


class IpFilterStage:
    """Blocked or not-allowed clients get a 403 in the provider's format (global list first)."""

    def __init__(self, global_filter: GlobalIPFilter) -> None:
        self.global_filter = global_filter

    def idle(self, runtime: ProxyRuntime) -> bool:
        return self.global_filter.current.empty and runtime.faults.ip_filter.empty

    async def before(self, exchange: Exchange, runtime: ProxyRuntime) -> None:
        ip = exchange.client_ip
        if self.global_filter.current.permits(ip) and runtime.faults.ip_filter.permits(ip):
            return
        exchange.fault = "ip_blocked"
        await simulated_error(
            exchange, runtime, 403, f"Rubberduck: requests from {ip} are not allowed.", None
        )


class RateLimitStage:
    """Requests and tokens per minute, answered like the provider does, with its quota headers."""

    def idle(self, runtime: ProxyRuntime) -> bool:
        return runtime.faults.limiter is None

    async def before(self, exchange: Exchange, runtime: ProxyRuntime) -> None:
        limiter = runtime.faults.limiter
        if limiter is None:
            return
        estimate = estimate_tokens(exchange.request.json, len(exchange.request.body))
        quota, charge = await _maybe_await(limiter.acquire(estimate))
        if not quota.allowed:
            exchange.fault = "rate_limit"
            message = (
                f"Rubberduck: rate limit reached ({quota.reason}). Retry after {quota.retry_after_s:.1f}s."
            )
            await simulated_error(exchange, runtime, 429, message, max(quota.retry_after_s, 0.001), quota)
            return
        exchange.extra_headers.extend(runtime.adapter.rate_limit_headers(quota))
        if charge is not None:  # the log writer reads the real usage and corrects the estimate with it
            exchange.charge_tokens = partial(limiter.correct, charge)


class FaultStage:
    """Timeouts, injected errors, latency and stream faults: one roll of the dice per request."""

    def idle(self, runtime: ProxyRuntime) -> bool:
        return not runtime.faults.active

    async def before(self, exchange: Exchange, runtime: ProxyRuntime) -> None:
        state = runtime.faults
        config = state.config
        if not state.active:
            return
        roll = await state.next_roll()
        forced = (
            exchange.request.headers.get(FAULT_HEADER, "").strip().lower()
            if config.allow_header_faults
            else ""
        )
        if forced == "timeout" or (not forced and roll.timeout < config.timeout.rate):
            if config.timeout.mode == "hang":
                exchange.fault = "timeout_hang"
                exchange.watch_disconnect()  # the client giving up is the only way out
                await asyncio.Event().wait()
            exchange.fault = "timeout_delay"
            await asyncio.sleep(config.timeout.delay_ms / 1000)
        picked = (
            self._forced_error(forced)
            if forced.isdigit()
            else (None if forced else state.pick_error(roll.error))
        )
        if picked is not None:
            status, retry_after = picked
            if status in (429, 503, 529) and retry_after is None:
                retry_after = DEFAULT_RETRY_AFTER_S
            exchange.fault = f"error_{status}"
            await simulated_error(
                exchange, runtime, status, f"Rubberduck simulated a {status} error.", retry_after
            )
            return
        stream = config.stream
        truncate = forced == "truncate" or (not forced and roll.truncate < stream.truncate_rate)
        if truncate or stream.chunk_delay_ms:
            after = stream.truncate_after_chunks if truncate else None
            exchange.stream_fault = StreamFault(
                truncate_after=after, chunk_delay_s=stream.chunk_delay_ms / 1000
            )
        latency = config.latency
        delay_ms = latency.ms + (roll.jitter * 2 - 1) * latency.jitter_ms
        if delay_ms > 0:  # before the cache and upstream: it adds to every answer's first byte
            await asyncio.sleep(delay_ms / 1000)

    @staticmethod
    def _forced_error(forced: str) -> tuple[int, float | None] | None:
        status = int(forced)
        return (status, None) if 400 <= status <= 599 else None
