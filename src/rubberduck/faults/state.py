"""A proxy's live fault state: its config, its seeded dice, its rate-limit window, its IP filter."""

from __future__ import annotations

import hashlib
import random
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from rubberduck.faults.config import FailureConfig
from rubberduck.faults.ipmatch import IPFilter
from rubberduck.faults.ratelimit import SlidingWindowLimiter


@dataclass(slots=True)
class Roll:
    """The dice for one request, always drawn in the same order so a seed replays exactly."""

    timeout: float
    error: float
    truncate: float
    jitter: float


_DRAWS = struct.Struct(">4Q")


def roll_from(seed: int, number: int) -> Roll:
    """The dice of a seeded proxy's `number`th request: a pure function of the two, so any node that
    knows which request of the sequence it is serving draws the same faults."""
    digest = hashlib.sha256(f"{seed}:{number}".encode()).digest()
    timeout, error, truncate, jitter = (value / 2**64 for value in _DRAWS.unpack(digest))
    return Roll(timeout, error, truncate, jitter)


class Limiter(Protocol):
    """The in-process sliding window (faults/ratelimit.py) or the shared one (cluster/ratelimit.py):
    the rate-limit stage awaits what either returns when it is awaitable."""

    def acquire(self, estimated_tokens: int) -> Any: ...
    def peek(self) -> Any: ...
    def correct(self, charge: Any, actual_tokens: int) -> None: ...


LimiterFactory = Callable[[int | None, int | None], Limiter]
# Which request of a seeded proxy's sequence this is, counted where every node sees it; None: unknown.
SharedCounter = Callable[[], Awaitable[int | None]]


class FaultState:
    """Built when a proxy starts or its failure config changes; kept across other config pushes.

    A seeded proxy draws request N's dice from (seed, N): with `shared_count` (several nodes) N comes
    from a counter every node shares, else from this state's own count.
    """

    def __init__(
        self,
        config: FailureConfig,
        make_limiter: LimiterFactory | None = None,
        shared_count: SharedCounter | None = None,
    ) -> None:
        self.config = config
        self.active = config.is_active
        self.rng = random.Random(config.seed)
        self.drawn = 0
        self.shared_count = shared_count if config.seed is not None else None
        self.ip_filter = IPFilter.build(config.ip_allow, config.ip_block)
        limit = config.rate_limit
        build: LimiterFactory = make_limiter or SlidingWindowLimiter
        self.limiter = build(limit.rpm, limit.tpm) if (limit.rpm or limit.tpm) else None
        # Cumulative thresholds: one roll picks at most one error, so rates are exact, never compounded.
        self.error_bands: list[tuple[float, int, float | None]] = []
        upper = 0.0
        for error in config.errors:
            upper += error.rate
            self.error_bands.append((upper, error.status, error.retry_after_s))

    def roll(self) -> Roll:
        self.drawn += 1
        if self.config.seed is not None:
            return roll_from(self.config.seed, self.drawn)
        draw = self.rng.random
        return Roll(draw(), draw(), draw(), draw())

    async def next_roll(self) -> Roll:
        """The request's dice; a shared counter that cannot answer (Redis down) falls back to our own."""
        if self.shared_count is not None and self.config.seed is not None:
            number = await self.shared_count()
            if number is not None:
                return roll_from(self.config.seed, number)
        return self.roll()

    def pick_error(self, roll: float) -> tuple[int, float | None] | None:
        for upper, status, retry_after in self.error_bands:
            if roll < upper:
                return status, retry_after
        return None


NO_FAULTS = FailureConfig()
